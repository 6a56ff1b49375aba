using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>
/// GroupNorm over NCHW data: each (sample, group) block of (C/G)·H·W contiguous values is normalised, then a
/// per-channel affine is applied. Forward saves mean and 1/σ per (sample, group).
/// </summary>
public static unsafe class GroupNorm
{
    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y,
        Span<float> mean, Span<float> rstd, int n, int c, int hw, int groups, float eps)
    {
        long total = (long)n * c * hw;
        if (x.Length < total || y.Length < total) throw new ArgumentException($"group_norm: spans too short for {n}×{c}×{hw}");
        if (mean.Length < n * groups || rstd.Length < n * groups) throw new ArgumentException("group_norm: mean/rstd too short");
        fixed (float* px = x, pw = weight, pb = bias, py = y, pm = mean, pr = rstd)
        {
            var job = new FwdJob
            {
                X = px,
                W = weight.IsEmpty ? null : pw,
                B = bias.IsEmpty ? null : pb,
                Y = py,
                M = pm,
                R = pr,
                C = c,
                HW = hw,
                G = groups,
                Eps = eps,
                Level = Cpu.Level,
            };
            if (total < 1 << 14) for (int i = 0; i < n * groups; i++) job.Execute(i);
            else Workers.For(n * groups, job);
        }
    }

    /// <summary>dx (overwritten), dweight/dbias (overwritten when non-empty); deterministic for any thread count.</summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias, int n, int c, int hw, int groups)
    {
        float[] partial = System.Buffers.ArrayPool<float>.Shared.Rent(n * c * 2);
        fixed (float* px = x, pw = weight, pm = mean, pr = rstd, pg = dy, pd = dx, pp = partial)
        {
            var job = new BwdJob
            {
                X = px,
                W = weight.IsEmpty ? null : pw,
                M = pm,
                R = pr,
                Gr = pg,
                D = dx.IsEmpty ? null : pd,
                P = pp,
                N = n,
                C = c,
                HW = hw,
                G = groups,
                Level = Cpu.Level,
            };
            if ((long)n * c * hw < 1 << 14) for (int i = 0; i < n * groups; i++) job.Execute(i);
            else Workers.For(n * groups, job);
        }
        // partial layout: [sample][channel] Σ dy·x̂ then [sample][channel] Σ dy, after n*c.
        if (!dweight.IsEmpty || !dbias.IsEmpty)
        {
            for (int ch = 0; ch < c; ch++)
            {
                float sw = 0, sb = 0;
                for (int s = 0; s < n; s++) { sw += partial[s * c + ch]; sb += partial[n * c + s * c + ch]; }
                if (!dweight.IsEmpty) dweight[ch] = sw;
                if (!dbias.IsEmpty) dbias[ch] = sb;
            }
        }
        System.Buffers.ArrayPool<float>.Shared.Return(partial);
    }

    private struct FwdJob : IParallelJob
    {
        public float* X, W, B, Y, M, R;
        public int C, HW, G;
        public float Eps;
        public SimdLevel Level;
        public readonly void Execute(int index)
        {
            switch (Level)
            {
                case SimdLevel.Vector512: Block<V512>(index); break;
                case SimdLevel.Vector256: Block<V256>(index); break;
                default: Block<V1>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private readonly void Block<TV>(int index) where TV : struct, IVec<TV>
        {
            int s = index / G, g = index % G, cpg = C / G;
            long len = (long)cpg * HW;
            float* x = X + ((long)s * C + (long)g * cpg) * HW, y = Y + ((long)s * C + (long)g * cpg) * HW;
            float mean = (float)(LayerNorm.RowSum<TV>(x, (int)len) / (double)len);
            float var = (float)(LayerNorm.RowSqDev<TV>(x, (int)len, mean) / (double)len);
            float rstd = 1f / MathF.Sqrt(var + Eps);
            M[index] = mean;
            R[index] = rstd;
            for (int k = 0; k < cpg; k++)
            {
                int ch = g * cpg + k;
                // y = x·a + b' with a = rstd·w, b' = b − mean·a: the same fused form as PyTorch's CPU kernel, so
                // checkpoints with tiny group variances (hybrid ResNet stages) reproduce its rounding.
                float a = rstd * (W != null ? W[ch] : 1f);
                float bb = (B != null ? B[ch] : 0f) - mean * a;
                float* xr = x + (long)k * HW, yr = y + (long)k * HW;
                var va = TV.Splat(a);
                var vb = TV.Splat(bb);
                int i = 0;
                for (; i <= HW - TV.Count; i += TV.Count) TV.Store(TV.Fma(TV.Load(ref xr[i]), va, vb), ref yr[i]);
                for (; i < HW; i++) yr[i] = xr[i] * a + bb;
            }
        }
    }

    private struct BwdJob : IParallelJob
    {
        public float* X, W, M, R, Gr, D, P;
        public int N, C, HW, G;
        public SimdLevel Level;
        public readonly void Execute(int index)
        {
            switch (Level)
            {
                case SimdLevel.Vector512: Block<V512>(index); break;
                case SimdLevel.Vector256: Block<V256>(index); break;
                default: Block<V1>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private readonly void Block<TV>(int index) where TV : struct, IVec<TV>
        {
            int s = index / G, g = index % G, cpg = C / G;
            long baseOff = ((long)s * C + (long)g * cpg) * HW;
            float mean = M[index], rstd = R[index];
            var vm = TV.Splat(mean);
            var vr = TV.Splat(rstd);
            double m1 = 0, m2 = 0;
            for (int k = 0; k < cpg; k++)
            {
                int ch = g * cpg + k;
                float* xr = X + baseOff + (long)k * HW, gr = Gr + baseOff + (long)k * HW;
                var sg = TV.Splat(0f);
                var sgx = TV.Splat(0f);
                float tg = 0, tgx = 0;
                int i = 0;
                for (; i <= HW - TV.Count; i += TV.Count)
                {
                    var gv = TV.Load(ref gr[i]);
                    var xh = TV.Mul(TV.Sub(TV.Load(ref xr[i]), vm), vr);
                    sg = TV.Add(sg, gv);
                    sgx = TV.Fma(gv, xh, sgx);
                }
                for (; i < HW; i++) { float xh = (xr[i] - mean) * rstd; tg += gr[i]; tgx += gr[i] * xh; }
                float sumG = TV.Sum(sg) + tg, sumGx = TV.Sum(sgx) + tgx;
                P[s * C + ch] = sumGx;
                P[N * C + s * C + ch] = sumG;
                float w = W != null ? W[ch] : 1f;
                m1 += w * sumG;
                m2 += w * sumGx;
            }
            if (D == null) return;
            long len = (long)cpg * HW;
            float a1 = (float)(m1 / len), a2 = (float)(m2 / len);
            var va1 = TV.Splat(a1);
            var va2 = TV.Splat(a2);
            for (int k = 0; k < cpg; k++)
            {
                int ch = g * cpg + k;
                float w = W != null ? W[ch] : 1f;
                var vw = TV.Splat(w);
                float* xr = X + baseOff + (long)k * HW, gr = Gr + baseOff + (long)k * HW, dr = D + baseOff + (long)k * HW;
                int i = 0;
                for (; i <= HW - TV.Count; i += TV.Count)
                {
                    var xh = TV.Mul(TV.Sub(TV.Load(ref xr[i]), vm), vr);
                    var gw = TV.Mul(TV.Load(ref gr[i]), vw);
                    TV.Store(TV.Mul(vr, TV.Sub(TV.Sub(gw, va1), TV.Mul(xh, va2))), ref dr[i]);
                }
                for (; i < HW; i++)
                {
                    float xh = (xr[i] - mean) * rstd;
                    dr[i] = rstd * (gr[i] * w - a1 - xh * a2);
                }
            }
        }
    }
}
