using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>
/// Softmax and log-softmax over a (outer, dim, inner) view of contiguous data, max-subtracted so that
/// logits like 1000 or -1e4 stay finite (TensorPrimitives.SoftMax does not subtract the max).
/// inner = 1 is the common "last dimension" case and runs row kernels; otherwise lanes run across inner.
/// </summary>
public static unsafe class Softmax
{
    public static void Forward(ReadOnlySpan<float> x, Span<float> y, int outer, int dim, int inner, bool log)
    {
        Check(x.Length, y.Length, outer, dim, inner);
        fixed (float* px = x, py = y)
        {
            var job = new FwdJob { X = px, Y = py, Outer = outer, Dim = dim, Inner = inner, Log = log, Level = Cpu.Level };
            Run(job, outer, (long)dim * inner);
        }
    }

    /// <summary>dx from the forward output y and dy: softmax: y(dy - Σ dy·y); log-softmax: dy - e^y Σ dy.</summary>
    public static void Backward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx, int outer, int dim, int inner, bool log)
    {
        Check(y.Length, dx.Length, outer, dim, inner);
        if (dy.Length < y.Length) throw new ArgumentException("dy too short", nameof(dy));
        fixed (float* py = y, pg = dy, pd = dx)
        {
            var job = new BwdJob { Y = py, G = pg, D = pd, Outer = outer, Dim = dim, Inner = inner, Log = log, Level = Cpu.Level };
            Run(job, outer, (long)dim * inner);
        }
    }

    private static void Check(int xl, int yl, int outer, int dim, int inner)
    {
        long n = (long)outer * dim * inner;
        if (xl < n || yl < n) throw new ArgumentException($"softmax: spans of {xl}/{yl} elements for {outer}×{dim}×{inner}");
    }

    private static void Run<TJob>(TJob job, int outer, long perOuter) where TJob : struct, IParallelJob
    {
        if (outer * perOuter < 1 << 14 || outer == 1) for (int i = 0; i < outer; i++) job.Execute(i);
        else Workers.For(outer, job);
    }

    private struct FwdJob : IParallelJob
    {
        public float* X, Y;
        public int Outer, Dim, Inner;
        public bool Log;
        public SimdLevel Level;
        public readonly void Execute(int o)
        {
            long off = (long)o * Dim * Inner;
            if (Inner == 1)
            {
                switch (Level)
                {
                    case SimdLevel.Vector512: Row<V512>(X + off, Y + off, Dim, Log); break;
                    case SimdLevel.Vector256: Row<V256>(X + off, Y + off, Dim, Log); break;
                    default: Row<V1>(X + off, Y + off, Dim, Log); break;
                }
            }
            else
            {
                switch (Level)
                {
                    case SimdLevel.Vector512: Cols<V512>(X + off, Y + off, Dim, Inner, Log); break;
                    case SimdLevel.Vector256: Cols<V256>(X + off, Y + off, Dim, Inner, Log); break;
                    default: Cols<V1>(X + off, Y + off, Dim, Inner, Log); break;
                }
            }
        }
    }

    private struct BwdJob : IParallelJob
    {
        public float* Y, G, D;
        public int Outer, Dim, Inner;
        public bool Log;
        public SimdLevel Level;
        public readonly void Execute(int o)
        {
            long off = (long)o * Dim * Inner;
            switch (Level)
            {
                case SimdLevel.Vector512: Back<V512>(Y + off, G + off, D + off, Dim, Inner, Log); break;
                case SimdLevel.Vector256: Back<V256>(Y + off, G + off, D + off, Dim, Inner, Log); break;
                default: Back<V1>(Y + off, G + off, D + off, Dim, Inner, Log); break;
            }
        }
    }

    /// <summary>Max of a contiguous row.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float RowMax<TV>(float* x, int n) where TV : struct, IVec<TV>
    {
        float m = float.NegativeInfinity;
        int i = 0;
        if (n >= TV.Count)
        {
            var vm = TV.Splat(float.NegativeInfinity);
            for (; i <= n - TV.Count; i += TV.Count) vm = TV.Max(vm, TV.Load(ref x[i]));
            m = TV.MaxAcross(vm);
        }
        for (; i < n; i++) m = MathF.Max(m, x[i]);
        return m;
    }

    /// <summary>y = exp(x - shift), returns Σ y.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static float ExpShiftSum<TV>(float* x, float* y, int n, float shift) where TV : struct, IVec<TV>
    {
        int i = 0;
        float s = 0;
        if (n >= TV.Count)
        {
            var vs = TV.Splat(0f);
            var sh = TV.Splat(shift);
            for (; i <= n - TV.Count; i += TV.Count)
            {
                var e = VMath.Exp(TV.Sub(TV.Load(ref x[i]), sh));
                TV.Store(e, ref y[i]);
                vs = TV.Add(vs, e);
            }
            s = TV.Sum(vs);
        }
        for (; i < n; i++)
        {
            float e = VMath.Exp(new V1(x[i] - shift)).V;
            y[i] = e;
            s += e;
        }
        return s;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Scale<TV>(float* y, int n, float a) where TV : struct, IVec<TV>
    {
        int i = 0;
        var va = TV.Splat(a);
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TV.Mul(TV.Load(ref y[i]), va), ref y[i]);
        for (; i < n; i++) y[i] *= a;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Row<TV>(float* x, float* y, int n, bool log) where TV : struct, IVec<TV>
    {
        float m = RowMax<TV>(x, n);
        if (float.IsNegativeInfinity(m)) m = 0; // all -inf: 0/0 gives NaN, as torch does
        float s = ExpShiftSum<TV>(x, y, n, m);
        if (!log)
        {
            Scale<TV>(y, n, 1f / s);
            return;
        }
        float shift = m + MathF.Log(s);
        int i = 0;
        var vsh = TV.Splat(shift);
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TV.Sub(TV.Load(ref x[i]), vsh), ref y[i]);
        for (; i < n; i++) y[i] = x[i] - shift;
    }

    /// <summary>Softmax down the columns of a (dim × inner) block, lanes across inner.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Cols<TV>(float* x, float* y, int dim, int inner, bool log) where TV : struct, IVec<TV>
    {
        int c = 0;
        for (; c <= inner - TV.Count; c += TV.Count) ColBlock<TV>(x + c, y + c, dim, inner, log);
        for (; c < inner; c++) ColBlock<V1>(x + c, y + c, dim, inner, log);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ColBlock<TV>(float* x, float* y, int dim, int inner, bool log) where TV : struct, IVec<TV>
    {
        var m = TV.Splat(float.NegativeInfinity);
        for (int d = 0; d < dim; d++) m = TV.Max(m, TV.Load(ref x[(long)d * inner]));
        var s = TV.Splat(0f);
        for (int d = 0; d < dim; d++)
        {
            var e = VMath.Exp(TV.Sub(TV.Load(ref x[(long)d * inner]), m));
            if (!log) TV.Store(e, ref y[(long)d * inner]);
            s = TV.Add(s, e);
        }
        if (!log)
        {
            var r = TV.Div(TV.Splat(1f), s);
            for (int d = 0; d < dim; d++) TV.Store(TV.Mul(TV.Load(ref y[(long)d * inner]), r), ref y[(long)d * inner]);
        }
        else
        {
            // log Σ e: per lane through the scalar log (one per column, negligible).
            float* tmp = stackalloc float[16];
            TV.Store(s, ref tmp[0]);
            for (int k = 0; k < TV.Count; k++) tmp[k] = MathF.Log(tmp[k]);
            var ls = TV.Load(ref tmp[0]);
            var shift = TV.Add(m, ls);
            for (int d = 0; d < dim; d++) TV.Store(TV.Sub(TV.Load(ref x[(long)d * inner]), shift), ref y[(long)d * inner]);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Back<TV>(float* y, float* g, float* dx, int dim, int inner, bool log) where TV : struct, IVec<TV>
    {
        if (inner == 1)
        {
            // Σ dy·y (softmax) or Σ dy (log-softmax), then one pass for dx.
            int i = 0;
            var acc = TV.Splat(0f);
            float s = 0;
            if (!log)
            {
                for (; i <= dim - TV.Count; i += TV.Count) acc = TV.Fma(TV.Load(ref g[i]), TV.Load(ref y[i]), acc);
                s = TV.Sum(acc);
                for (; i < dim; i++) s += g[i] * y[i];
                var vs = TV.Splat(s);
                for (i = 0; i <= dim - TV.Count; i += TV.Count)
                    TV.Store(TV.Mul(TV.Load(ref y[i]), TV.Sub(TV.Load(ref g[i]), vs)), ref dx[i]);
                for (; i < dim; i++) dx[i] = y[i] * (g[i] - s);
            }
            else
            {
                for (; i <= dim - TV.Count; i += TV.Count) acc = TV.Add(acc, TV.Load(ref g[i]));
                s = TV.Sum(acc);
                for (; i < dim; i++) s += g[i];
                var vs = TV.Splat(-s);
                for (i = 0; i <= dim - TV.Count; i += TV.Count)
                    TV.Store(TV.Fma(VMath.Exp(TV.Load(ref y[i])), vs, TV.Load(ref g[i])), ref dx[i]);
                for (; i < dim; i++) dx[i] = g[i] - VMath.Exp(new V1(y[i])).V * s;
            }
            return;
        }
        int c = 0;
        for (; c <= inner - TV.Count; c += TV.Count) BackCols<TV>(y + c, g + c, dx + c, dim, inner, log);
        for (; c < inner; c++) BackCols<V1>(y + c, g + c, dx + c, dim, inner, log);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void BackCols<TV>(float* y, float* g, float* dx, int dim, int inner, bool log) where TV : struct, IVec<TV>
    {
        var s = TV.Splat(0f);
        for (int d = 0; d < dim; d++)
        {
            long o = (long)d * inner;
            s = log ? TV.Add(s, TV.Load(ref g[o])) : TV.Fma(TV.Load(ref g[o]), TV.Load(ref y[o]), s);
        }
        for (int d = 0; d < dim; d++)
        {
            long o = (long)d * inner;
            var yv = TV.Load(ref y[o]);
            var gv = TV.Load(ref g[o]);
            TV.Store(log ? TV.Sub(gv, TV.Mul(VMath.Exp(yv), s)) : TV.Mul(yv, TV.Sub(gv, s)), ref dx[o]);
        }
    }
}
