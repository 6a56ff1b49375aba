using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using VitSharp.Kernels;

namespace VitSharp.Training;

/// <summary>
/// Fused, in-place optimiser updates over raw float pointers (storages are pinned). Every path uses the same
/// fused multiply-adds in the same order, so Vector512, Vector256 and scalar results are bit-identical.
/// Large tensors are split into chunks run on the workers; the jobs are structs (no allocation).
/// </summary>
internal static unsafe class OptimizerKernels
{
    private const int Chunk = 1 << 15;

    internal struct SgdArgs
    {
        public float* P, G, Buf;
        public int N;
        public float Lr, Wd, Momentum, OneMinusDampening;
        public bool Nesterov, FirstStep;
    }

    internal struct AdamArgs
    {
        public float* P, G, M, V, VMax;
        public int N;
        public float Decay, Beta1, OneMinusBeta1, Beta2, OneMinusBeta2, Bc2Sqrt, Eps, NegStepSize;
    }

    private struct SgdJob(SgdArgs a) : IParallelJob
    {
        public readonly void Execute(int index)
        {
            int start = index * Chunk;
            var sub = a;
            sub.P += start; sub.G += start;
            if (sub.Buf != null) sub.Buf += start;
            sub.N = Math.Min(Chunk, a.N - start);
            SgdRange(sub);
        }
    }

    private struct AdamJob(AdamArgs a) : IParallelJob
    {
        public readonly void Execute(int index)
        {
            int start = index * Chunk;
            var sub = a;
            sub.P += start; sub.G += start; sub.M += start; sub.V += start;
            if (sub.VMax != null) sub.VMax += start;
            sub.N = Math.Min(Chunk, a.N - start);
            AdamRange(sub);
        }
    }

    public static void Sgd(in SgdArgs a)
    {
        if (a.N <= Chunk) SgdRange(a);
        else Workers.For((a.N + Chunk - 1) / Chunk, new SgdJob(a));
    }

    public static void Adam(in AdamArgs a)
    {
        if (a.N <= Chunk) AdamRange(a);
        else Workers.For((a.N + Chunk - 1) / Chunk, new AdamJob(a));
    }

    // torch 1.13 _single_tensor_sgd, elementwise:
    //   d = g + wd*p;  buf = first ? d : buf*momentum + (1-dampening)*d;  d = nesterov ? d + momentum*buf : buf;  p += -lr*d
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SgdRange(SgdArgs a)
    {
        int i = 0, n = a.N;
        bool useWd = a.Wd != 0f, useMom = a.Momentum != 0f;
        if (Cpu.Level >= SimdLevel.Vector512)
        {
            var wd = Vector512.Create(a.Wd); var mom = Vector512.Create(a.Momentum);
            var omd = Vector512.Create(a.OneMinusDampening); var nlr = Vector512.Create(-a.Lr);
            for (; i <= n - 16; i += 16)
            {
                var p = Vector512.Load(a.P + i);
                var d = Vector512.Load(a.G + i);
                if (useWd) d = Vector512.FusedMultiplyAdd(p, wd, d);
                if (useMom)
                {
                    var buf = a.FirstStep ? d : Vector512.FusedMultiplyAdd(d, omd, Vector512.Load(a.Buf + i) * mom);
                    buf.Store(a.Buf + i);
                    d = a.Nesterov ? Vector512.FusedMultiplyAdd(buf, mom, d) : buf;
                }
                Vector512.FusedMultiplyAdd(d, nlr, p).Store(a.P + i);
            }
        }
        if (Cpu.Level >= SimdLevel.Vector256)
        {
            var wd = Vector256.Create(a.Wd); var mom = Vector256.Create(a.Momentum);
            var omd = Vector256.Create(a.OneMinusDampening); var nlr = Vector256.Create(-a.Lr);
            for (; i <= n - 8; i += 8)
            {
                var p = Vector256.Load(a.P + i);
                var d = Vector256.Load(a.G + i);
                if (useWd) d = Vector256.FusedMultiplyAdd(p, wd, d);
                if (useMom)
                {
                    var buf = a.FirstStep ? d : Vector256.FusedMultiplyAdd(d, omd, Vector256.Load(a.Buf + i) * mom);
                    buf.Store(a.Buf + i);
                    d = a.Nesterov ? Vector256.FusedMultiplyAdd(buf, mom, d) : buf;
                }
                Vector256.FusedMultiplyAdd(d, nlr, p).Store(a.P + i);
            }
        }
        for (; i < n; i++)
        {
            float p = a.P[i], d = a.G[i];
            if (useWd) d = MathF.FusedMultiplyAdd(p, a.Wd, d);
            if (useMom)
            {
                float buf = a.FirstStep ? d : MathF.FusedMultiplyAdd(d, a.OneMinusDampening, a.Buf[i] * a.Momentum);
                a.Buf[i] = buf;
                d = a.Nesterov ? MathF.FusedMultiplyAdd(buf, a.Momentum, d) : buf;
            }
            a.P[i] = MathF.FusedMultiplyAdd(d, -a.Lr, p);
        }
    }

    // torch 1.13 _single_tensor_adamw, elementwise:
    //   p *= 1 - lr*wd;  m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g*g;  vmax = max(vmax, v) (amsgrad)
    //   p += -lr/bc1 * m / (sqrt(v or vmax)/sqrt(bc2) + eps)
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void AdamRange(AdamArgs a)
    {
        int i = 0, n = a.N;
        bool ams = a.VMax != null;
        if (Cpu.Level >= SimdLevel.Vector512)
        {
            var decay = Vector512.Create(a.Decay); var b1 = Vector512.Create(a.Beta1); var c1 = Vector512.Create(a.OneMinusBeta1);
            var b2 = Vector512.Create(a.Beta2); var c2 = Vector512.Create(a.OneMinusBeta2); var bc2 = Vector512.Create(a.Bc2Sqrt);
            var eps = Vector512.Create(a.Eps); var ns = Vector512.Create(a.NegStepSize);
            for (; i <= n - 16; i += 16)
            {
                var g = Vector512.Load(a.G + i);
                var p = Vector512.Load(a.P + i) * decay;
                var m = Vector512.FusedMultiplyAdd(g, c1, Vector512.Load(a.M + i) * b1);
                var v = Vector512.FusedMultiplyAdd(g * c2, g, Vector512.Load(a.V + i) * b2);
                m.Store(a.M + i); v.Store(a.V + i);
                if (ams) { v = Vector512.Max(Vector512.Load(a.VMax + i), v); v.Store(a.VMax + i); }
                var denom = Vector512.Sqrt(v) / bc2 + eps;
                Vector512.FusedMultiplyAdd(m / denom, ns, p).Store(a.P + i);
            }
        }
        if (Cpu.Level >= SimdLevel.Vector256)
        {
            var decay = Vector256.Create(a.Decay); var b1 = Vector256.Create(a.Beta1); var c1 = Vector256.Create(a.OneMinusBeta1);
            var b2 = Vector256.Create(a.Beta2); var c2 = Vector256.Create(a.OneMinusBeta2); var bc2 = Vector256.Create(a.Bc2Sqrt);
            var eps = Vector256.Create(a.Eps); var ns = Vector256.Create(a.NegStepSize);
            for (; i <= n - 8; i += 8)
            {
                var g = Vector256.Load(a.G + i);
                var p = Vector256.Load(a.P + i) * decay;
                var m = Vector256.FusedMultiplyAdd(g, c1, Vector256.Load(a.M + i) * b1);
                var v = Vector256.FusedMultiplyAdd(g * c2, g, Vector256.Load(a.V + i) * b2);
                m.Store(a.M + i); v.Store(a.V + i);
                if (ams) { v = Vector256.Max(Vector256.Load(a.VMax + i), v); v.Store(a.VMax + i); }
                var denom = Vector256.Sqrt(v) / bc2 + eps;
                Vector256.FusedMultiplyAdd(m / denom, ns, p).Store(a.P + i);
            }
        }
        for (; i < n; i++)
        {
            float g = a.G[i];
            float p = a.P[i] * a.Decay;
            float m = MathF.FusedMultiplyAdd(g, a.OneMinusBeta1, a.M[i] * a.Beta1);
            float v = MathF.FusedMultiplyAdd(g * a.OneMinusBeta2, g, a.V[i] * a.Beta2);
            a.M[i] = m; a.V[i] = v;
            if (ams) { v = MathF.Max(a.VMax[i], v); a.VMax[i] = v; }
            float denom = MathF.Sqrt(v) / a.Bc2Sqrt + a.Eps;
            a.P[i] = MathF.FusedMultiplyAdd(m / denom, a.NegStepSize, p);
        }
    }
}
