using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>
/// LayerNorm over the last dimension of a row-major (rows × dim) matrix. Forward saves per-row mean and
/// 1/σ for the fused backward. Weight and bias are optional (null pointers / empty spans).
/// </summary>
public static unsafe class LayerNorm
{
    private const int RowsPerChunk = 32;

    public static void Forward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> bias, Span<float> y,
        Span<float> mean, Span<float> rstd, int rows, int dim, float eps)
    {
        long n = (long)rows * dim;
        if (x.Length < n || y.Length < n) throw new ArgumentException($"layer_norm: spans too short for {rows}×{dim}");
        if (!mean.IsEmpty && (mean.Length < rows || rstd.Length < rows)) throw new ArgumentException("layer_norm: mean/rstd too short");
        fixed (float* px = x, pw = weight, pb = bias, py = y, pm = mean, pr = rstd)
        {
            var job = new FwdJob
            {
                X = px,
                W = weight.IsEmpty ? null : pw,
                B = bias.IsEmpty ? null : pb,
                Y = py,
                M = mean.IsEmpty ? null : pm,
                R = rstd.IsEmpty ? null : pr,
                Rows = rows,
                Dim = dim,
                Eps = eps,
                Level = Cpu.Level,
            };
            int chunks = (rows + RowsPerChunk - 1) / RowsPerChunk;
            if (n < 1 << 14) for (int c = 0; c < chunks; c++) job.Execute(c);
            else Workers.For(chunks, job);
        }
    }

    /// <summary>
    /// dx (overwritten, or added to when <paramref name="accumulate"/>: a residual branch's gradient joining the
    /// skip path's in the same pass) and, when non-empty, dweight/dbias (overwritten with this call's sums).
    /// Partial sums are formed over fixed row chunks and added in chunk order, so results do not depend on the
    /// thread count.
    /// </summary>
    public static void Backward(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, ReadOnlySpan<float> mean, ReadOnlySpan<float> rstd,
        ReadOnlySpan<float> dy, Span<float> dx, Span<float> dweight, Span<float> dbias, int rows, int dim, bool accumulate = false)
    {
        int chunks = (rows + RowsPerChunk - 1) / RowsPerChunk;
        bool wantW = !dweight.IsEmpty, wantB = !dbias.IsEmpty;
        float[]? partial = wantW || wantB ? System.Buffers.ArrayPool<float>.Shared.Rent(chunks * dim * 2) : null;
        fixed (float* px = x, pw = weight, pm = mean, pr = rstd, pg = dy, pd = dx, pp = partial)
        {
            var job = new BwdJob
            {
                X = px,
                W = weight.IsEmpty ? null : pw,
                M = pm,
                R = pr,
                G = pg,
                Acc = accumulate,
                D = dx.IsEmpty ? null : pd,
                P = pp,
                Rows = rows,
                Dim = dim,
                Level = Cpu.Level,
            };
            if ((long)rows * dim < 1 << 14) for (int c = 0; c < chunks; c++) job.Execute(c);
            else Workers.For(chunks, job);
        }
        if (partial == null) return;
        if (wantW) dweight[..dim].Clear();
        if (wantB) dbias[..dim].Clear();
        for (int c = 0; c < chunks; c++)
        {
            var pw = partial.AsSpan(c * dim * 2, dim);
            var pb = partial.AsSpan(c * dim * 2 + dim, dim);
            if (wantW) System.Numerics.Tensors.TensorPrimitives.Add(dweight[..dim], pw, dweight[..dim]);
            if (wantB) System.Numerics.Tensors.TensorPrimitives.Add(dbias[..dim], pb, dbias[..dim]);
        }
        System.Buffers.ArrayPool<float>.Shared.Return(partial);
    }

    private struct FwdJob : IParallelJob
    {
        public float* X, W, B, Y, M, R;
        public int Rows, Dim;
        public float Eps;
        public SimdLevel Level;
        public readonly void Execute(int chunk)
        {
            int r0 = chunk * RowsPerChunk, r1 = Math.Min(Rows, r0 + RowsPerChunk);
            for (int r = r0; r < r1; r++)
            {
                float* x = X + (long)r * Dim, y = Y + (long)r * Dim;
                float mean, rstd;
                switch (Level)
                {
                    case SimdLevel.Vector512: Row<V512>(x, W, B, y, Dim, Eps, out mean, out rstd); break;
                    case SimdLevel.Vector256: Row<V256>(x, W, B, y, Dim, Eps, out mean, out rstd); break;
                    default: Row<V1>(x, W, B, y, Dim, Eps, out mean, out rstd); break;
                }
                if (M != null) { M[r] = mean; R[r] = rstd; }
            }
        }
    }

    private struct BwdJob : IParallelJob
    {
        public float* X, W, M, R, G, D, P;
        public int Rows, Dim;
        public bool Acc;
        public SimdLevel Level;
        public readonly void Execute(int chunk)
        {
            int r0 = chunk * RowsPerChunk, r1 = Math.Min(Rows, r0 + RowsPerChunk);
            float* pw = P == null ? null : P + (long)chunk * Dim * 2;
            float* pb = pw == null ? null : pw + Dim;
            if (pw != null) new Span<float>(pw, Dim * 2).Clear();
            for (int r = r0; r < r1; r++)
            {
                long o = (long)r * Dim;
                switch (Level)
                {
                    case SimdLevel.Vector512: BackRow<V512>(X + o, W, M[r], R[r], G + o, D == null ? null : D + o, pw, pb, Dim, Acc); break;
                    case SimdLevel.Vector256: BackRow<V256>(X + o, W, M[r], R[r], G + o, D == null ? null : D + o, pw, pb, Dim, Acc); break;
                    default: BackRow<V1>(X + o, W, M[r], R[r], G + o, D == null ? null : D + o, pw, pb, Dim, Acc); break;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RowSum<TV>(float* x, int n) where TV : struct, IVec<TV>
    {
        int i = 0;
        float s = 0;
        if (n >= TV.Count)
        {
            // Four accumulators: one would make the row a chain of dependent adds (latency-bound at ViT widths).
            var a0 = TV.Splat(0f);
            var a1 = a0;
            var a2 = a0;
            var a3 = a0;
            int w = TV.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                a0 = TV.Add(a0, TV.Load(ref x[i]));
                a1 = TV.Add(a1, TV.Load(ref x[i + w]));
                a2 = TV.Add(a2, TV.Load(ref x[i + 2 * w]));
                a3 = TV.Add(a3, TV.Load(ref x[i + 3 * w]));
            }
            for (; i <= n - w; i += w) a0 = TV.Add(a0, TV.Load(ref x[i]));
            s = TV.Sum(TV.Add(TV.Add(a0, a1), TV.Add(a2, a3)));
        }
        for (; i < n; i++) s += x[i];
        return s;
    }

    /// <summary>Σ (x - c)² over a row (second pass, so no cancellation).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RowSqDev<TV>(float* x, int n, float c) where TV : struct, IVec<TV>
    {
        int i = 0;
        float s = 0;
        if (n >= TV.Count)
        {
            var a0 = TV.Splat(0f);
            var a1 = a0;
            var a2 = a0;
            var a3 = a0;
            var vc = TV.Splat(c);
            int w = TV.Count;
            for (; i <= n - 4 * w; i += 4 * w)
            {
                var d0 = TV.Sub(TV.Load(ref x[i]), vc);
                var d1 = TV.Sub(TV.Load(ref x[i + w]), vc);
                var d2 = TV.Sub(TV.Load(ref x[i + 2 * w]), vc);
                var d3 = TV.Sub(TV.Load(ref x[i + 3 * w]), vc);
                a0 = TV.Fma(d0, d0, a0);
                a1 = TV.Fma(d1, d1, a1);
                a2 = TV.Fma(d2, d2, a2);
                a3 = TV.Fma(d3, d3, a3);
            }
            for (; i <= n - w; i += w)
            {
                var d = TV.Sub(TV.Load(ref x[i]), vc);
                a0 = TV.Fma(d, d, a0);
            }
            s = TV.Sum(TV.Add(TV.Add(a0, a1), TV.Add(a2, a3)));
        }
        for (; i < n; i++) { float d = x[i] - c; s += d * d; }
        return s;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Row<TV>(float* x, float* w, float* b, float* y, int n, float eps, out float mean, out float rstd) where TV : struct, IVec<TV>
    {
        mean = RowSum<TV>(x, n) / n;
        float var = RowSqDev<TV>(x, n, mean) / n;
        rstd = 1f / MathF.Sqrt(var + eps);
        var vm = TV.Splat(mean);
        var vr = TV.Splat(rstd);
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count)
        {
            var h = TV.Mul(TV.Sub(TV.Load(ref x[i]), vm), vr);
            if (w != null) h = TV.Mul(h, TV.Load(ref w[i]));
            if (b != null) h = TV.Add(h, TV.Load(ref b[i]));
            TV.Store(h, ref y[i]);
        }
        for (; i < n; i++)
        {
            float h = (x[i] - mean) * rstd;
            if (w != null) h *= w[i];
            if (b != null) h += b[i];
            y[i] = h;
        }
    }

    // dx = rstd · (g·w − mean(g·w) − x̂ · mean(g·w·x̂)); dw += g·x̂; db += g.
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BackRow<TV>(float* x, float* w, float mean, float rstd, float* g, float* dx, float* dw, float* db, int n, bool acc) where TV : struct, IVec<TV>
    {
        var vm = TV.Splat(mean);
        var vr = TV.Splat(rstd);
        var s1 = TV.Splat(0f);
        var s2 = TV.Splat(0f);
        float t1 = 0, t2 = 0;
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count)
        {
            var xh = TV.Mul(TV.Sub(TV.Load(ref x[i]), vm), vr);
            var gv = TV.Load(ref g[i]);
            if (dw != null) TV.Store(TV.Fma(gv, xh, TV.Load(ref dw[i])), ref dw[i]);
            if (db != null) TV.Store(TV.Add(gv, TV.Load(ref db[i])), ref db[i]);
            var gw = w != null ? TV.Mul(gv, TV.Load(ref w[i])) : gv;
            s1 = TV.Add(s1, gw);
            s2 = TV.Fma(gw, xh, s2);
        }
        for (; i < n; i++)
        {
            float xh = (x[i] - mean) * rstd, gv = g[i];
            if (dw != null) dw[i] += gv * xh;
            if (db != null) db[i] += gv;
            float gw = w != null ? gv * w[i] : gv;
            t1 += gw;
            t2 += gw * xh;
        }
        if (dx == null) return;
        float m1 = (TV.Sum(s1) + t1) / n, m2 = (TV.Sum(s2) + t2) / n;
        var vm1 = TV.Splat(m1);
        var vm2 = TV.Splat(m2);
        for (i = 0; i <= n - TV.Count; i += TV.Count)
        {
            var xh = TV.Mul(TV.Sub(TV.Load(ref x[i]), vm), vr);
            var gv = TV.Load(ref g[i]);
            var gw = w != null ? TV.Mul(gv, TV.Load(ref w[i])) : gv;
            var d = TV.Mul(vr, TV.Sub(TV.Sub(gw, vm1), TV.Mul(xh, vm2)));
            TV.Store(acc ? TV.Add(TV.Load(ref dx[i]), d) : d, ref dx[i]);
        }
        for (; i < n; i++)
        {
            float xh = (x[i] - mean) * rstd;
            float gw = w != null ? g[i] * w[i] : g[i];
            float d = rstd * (gw - m1 - xh * m2);
            dx[i] = acc ? dx[i] + d : d;
        }
    }
}
