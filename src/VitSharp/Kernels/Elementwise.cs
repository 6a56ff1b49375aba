using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>An element-wise binary function with scalar and vector forms (struct, so calls inline).</summary>
internal interface IBinaryOp
{
    float Apply(float a, float b);
    Vector256<float> Apply(Vector256<float> a, Vector256<float> b);
    Vector512<float> Apply(Vector512<float> a, Vector512<float> b);
}

/// <summary>An element-wise unary function with scalar and vector forms.</summary>
internal interface IUnaryOp
{
    float Apply(float x);
    Vector256<float> Apply(Vector256<float> x);
    Vector512<float> Apply(Vector512<float> x);
}

internal readonly struct AddOp : IBinaryOp
{
    public float Apply(float a, float b) => a + b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a + b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a + b;
}

internal readonly struct SubOp : IBinaryOp
{
    public float Apply(float a, float b) => a - b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a - b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a - b;
}

internal readonly struct MulOp : IBinaryOp
{
    public float Apply(float a, float b) => a * b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a * b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a * b;
}

internal readonly struct DivOp : IBinaryOp
{
    public float Apply(float a, float b) => a / b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => a / b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => a / b;
}

/// <summary>a + alpha·b (in-place accumulate, subtraction with alpha = −1).</summary>
internal readonly struct AxpyOp(float alpha) : IBinaryOp
{
    public float Apply(float a, float b) => MathF.FusedMultiplyAdd(alpha, b, a);
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.FusedMultiplyAdd(Vector256.Create(alpha), b, a);
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.FusedMultiplyAdd(Vector512.Create(alpha), b, a);
}

/// <summary>scale·a·b (backward of Pow/Sqrt/MulScalar chains).</summary>
internal readonly struct ScaledMulOp(float scale) : IBinaryOp
{
    public float Apply(float a, float b) => scale * a * b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.Create(scale) * a * b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Create(scale) * a * b;
}

/// <summary>scale·a / b (sqrt backward: 0.5·g / y).</summary>
internal readonly struct ScaledDivOp(float scale) : IBinaryOp
{
    public float Apply(float a, float b) => scale * a / b;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) => Vector256.Create(scale) * a / b;
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) => Vector512.Create(scale) * a / b;
}

/// <summary>g·sign(x) with sign(0) = 0 (abs backward, as torch). a = g, b = x.</summary>
internal readonly struct SignMulOp : IBinaryOp
{
    public float Apply(float a, float b) => b > 0 ? a : b < 0 ? -a : 0f;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) =>
        Vector256.ConditionalSelect(Vector256.GreaterThan(b, Vector256<float>.Zero), a, Vector256<float>.Zero)
        - Vector256.ConditionalSelect(Vector256.LessThan(b, Vector256<float>.Zero), a, Vector256<float>.Zero);
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) =>
        Vector512.ConditionalSelect(Vector512.GreaterThan(b, Vector512<float>.Zero), a, Vector512<float>.Zero)
        - Vector512.ConditionalSelect(Vector512.LessThan(b, Vector512<float>.Zero), a, Vector512<float>.Zero);
}

/// <summary>g where lo ≤ x ≤ hi, else 0 (clamp backward, boundaries pass like torch). a = g, b = x.</summary>
internal readonly struct ClampMaskOp(float lo, float hi) : IBinaryOp
{
    public float Apply(float a, float b) => b >= lo && b <= hi ? a : 0f;
    public Vector256<float> Apply(Vector256<float> a, Vector256<float> b) =>
        Vector256.ConditionalSelect(Vector256.GreaterThanOrEqual(b, Vector256.Create(lo)) & Vector256.LessThanOrEqual(b, Vector256.Create(hi)), a, Vector256<float>.Zero);
    public Vector512<float> Apply(Vector512<float> a, Vector512<float> b) =>
        Vector512.ConditionalSelect(Vector512.GreaterThanOrEqual(b, Vector512.Create(lo)) & Vector512.LessThanOrEqual(b, Vector512.Create(hi)), a, Vector512<float>.Zero);
}

internal readonly struct AffineOp(float mul, float add) : IUnaryOp
{
    public float Apply(float x) => MathF.FusedMultiplyAdd(x, mul, add);
    public Vector256<float> Apply(Vector256<float> x) => Vector256.FusedMultiplyAdd(x, Vector256.Create(mul), Vector256.Create(add));
    public Vector512<float> Apply(Vector512<float> x) => Vector512.FusedMultiplyAdd(x, Vector512.Create(mul), Vector512.Create(add));
}

internal readonly struct AddScalarOp(float s) : IUnaryOp
{
    public float Apply(float x) => x + s;
    public Vector256<float> Apply(Vector256<float> x) => x + Vector256.Create(s);
    public Vector512<float> Apply(Vector512<float> x) => x + Vector512.Create(s);
}

internal readonly struct MulScalarOp(float s) : IUnaryOp
{
    public float Apply(float x) => x * s;
    public Vector256<float> Apply(Vector256<float> x) => x * Vector256.Create(s);
    public Vector512<float> Apply(Vector512<float> x) => x * Vector512.Create(s);
}

internal readonly struct ExpOp : IUnaryOp
{
    public float Apply(float x) => MathF.Exp(x);
    public Vector256<float> Apply(Vector256<float> x) => Vector256.Exp(x);
    public Vector512<float> Apply(Vector512<float> x) => Vector512.Exp(x);
}

internal readonly struct LogOp : IUnaryOp
{
    public float Apply(float x) => MathF.Log(x);
    public Vector256<float> Apply(Vector256<float> x) => Vector256.Log(x);
    public Vector512<float> Apply(Vector512<float> x) => Vector512.Log(x);
}

internal readonly struct SqrtOp : IUnaryOp
{
    public float Apply(float x) => MathF.Sqrt(x);
    public Vector256<float> Apply(Vector256<float> x) => Vector256.Sqrt(x);
    public Vector512<float> Apply(Vector512<float> x) => Vector512.Sqrt(x);
}

internal readonly struct RsqrtOp : IUnaryOp
{
    public float Apply(float x) => 1f / MathF.Sqrt(x);
    public Vector256<float> Apply(Vector256<float> x) => Vector256<float>.One / Vector256.Sqrt(x);
    public Vector512<float> Apply(Vector512<float> x) => Vector512<float>.One / Vector512.Sqrt(x);
}

internal readonly struct SquareOp : IUnaryOp
{
    public float Apply(float x) => x * x;
    public Vector256<float> Apply(Vector256<float> x) => x * x;
    public Vector512<float> Apply(Vector512<float> x) => x * x;
}

internal readonly struct CubeOp : IUnaryOp
{
    public float Apply(float x) => x * x * x;
    public Vector256<float> Apply(Vector256<float> x) => x * x * x;
    public Vector512<float> Apply(Vector512<float> x) => x * x * x;
}

internal readonly struct ReciprocalOp : IUnaryOp
{
    public float Apply(float x) => 1f / x;
    public Vector256<float> Apply(Vector256<float> x) => Vector256<float>.One / x;
    public Vector512<float> Apply(Vector512<float> x) => Vector512<float>.One / x;
}

/// <summary>General power; the vector forms fall back to per-lane MathF.Pow (exact torch semantics for x &lt; 0).</summary>
internal readonly struct PowOp(float p) : IUnaryOp
{
    public float Apply(float x) => MathF.Pow(x, p);

    public Vector256<float> Apply(Vector256<float> x)
    {
        Span<float> t = stackalloc float[8];
        x.CopyTo(t);
        for (int i = 0; i < 8; i++) t[i] = MathF.Pow(t[i], p);
        return Vector256.Create<float>(t);
    }

    public Vector512<float> Apply(Vector512<float> x)
    {
        Span<float> t = stackalloc float[16];
        x.CopyTo(t);
        for (int i = 0; i < 16; i++) t[i] = MathF.Pow(t[i], p);
        return Vector512.Create<float>(t);
    }
}

internal readonly struct AbsOp : IUnaryOp
{
    public float Apply(float x) => MathF.Abs(x);
    public Vector256<float> Apply(Vector256<float> x) => Vector256.Abs(x);
    public Vector512<float> Apply(Vector512<float> x) => Vector512.Abs(x);
}

internal readonly struct ClampOp(float lo, float hi) : IUnaryOp
{
    // NaN stays NaN like torch.clamp: comparisons with NaN are false, so the select keeps x.
    public float Apply(float x) => x < lo ? lo : x > hi ? hi : x;
    public Vector256<float> Apply(Vector256<float> x)
    {
        var l = Vector256.Create(lo);
        var h = Vector256.Create(hi);
        x = Vector256.ConditionalSelect(Vector256.LessThan(x, l), l, x);
        return Vector256.ConditionalSelect(Vector256.GreaterThan(x, h), h, x);
    }
    public Vector512<float> Apply(Vector512<float> x)
    {
        var l = Vector512.Create(lo);
        var h = Vector512.Create(hi);
        x = Vector512.ConditionalSelect(Vector512.LessThan(x, l), l, x);
        return Vector512.ConditionalSelect(Vector512.GreaterThan(x, h), h, x);
    }
}

/// <summary>
/// Element-wise kernels over strided N-d operands. Dimensions are coalesced first (a contiguous or
/// row-broadcast problem becomes one or two loops), then the innermost loop picks a vector path for the
/// common stride patterns (all unit, one operand a broadcast scalar) and a scalar gather otherwise.
/// Output may alias an input only at the same address (in-place ops).
/// </summary>
internal static unsafe class Elementwise
{
    /// <summary>Maximum rank of element-wise operands (stack buffers are sized by it).</summary>
    public const int MaxRank = 16;

    /// <summary>
    /// Merges adjacent dimensions that are contiguous with each other in all three operands and drops size-1
    /// dimensions. Returns the new rank; results are written to the spans (length ≥ rank).
    /// </summary>
    public static int Coalesce(ReadOnlySpan<int> shape, ReadOnlySpan<int> s0, ReadOnlySpan<int> s1, ReadOnlySpan<int> s2,
        Span<int> dims, Span<int> t0, Span<int> t1, Span<int> t2)
    {
        int r = 0;
        for (int i = 0; i < shape.Length; i++)
        {
            int d = shape[i];
            if (d == 1) continue;
            if (r > 0 && t0[r - 1] == s0[i] * d && t1[r - 1] == s1[i] * d && t2[r - 1] == s2[i] * d)
            {
                dims[r - 1] *= d;
                t0[r - 1] = s0[i]; t1[r - 1] = s1[i]; t2[r - 1] = s2[i];
                continue;
            }
            dims[r] = d; t0[r] = s0[i]; t1[r] = s1[i]; t2[r] = s2[i];
            r++;
        }
        return r;
    }

    /// <summary>
    /// Problems at least this large (elements) are split over the worker threads. Memory-bound work gains little
    /// from a second vCPU and loses badly when the other one is busy, so only large tensors (≥ 1 MiB) split;
    /// tunable for end-to-end measurements.
    /// </summary>
    public static int ParallelThreshold { get; set; } = 1 << 18;

    private const int Chunk = 1 << 14;

    [InlineArray(MaxRank + 1)]
    internal struct IntBuf
    {
        private int e0;
    }

    /// <summary>c = op(a, b) over <paramref name="shape"/> with per-operand strides (0 = broadcast).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Binary<TOp>(TOp op, ReadOnlySpan<int> shape, float* a, ReadOnlySpan<int> sa, float* b, ReadOnlySpan<int> sb,
        float* c, ReadOnlySpan<int> sc) where TOp : struct, IBinaryOp
    {
        long total = 1;
        foreach (var d in shape) total *= d;
        if (total == 0) return;
        var job = new BinaryJob<TOp> { Op = op, A = a, B = b, C = c };
        int r = Coalesce(shape, sa, sb, sc, job.Dims, job.Xa, job.Xb, job.Xc);
        job.R = r;
        if (r == 0) { *c = op.Apply(*a, *b); return; }
        if (total >= ParallelThreshold && Workers.ThreadCount > 1 && !Workers.InsideJob)
        {
            Workers.For(job.Count, job);
            return;
        }
        BinaryCoalesced(op, r, job.Dims, job.Xa, job.Xb, job.Xc, a, b, c);
    }

    /// <summary>One job index: a chunk of the only dim (rank 1) or one slice of the outermost dim.</summary>
    private struct BinaryJob<TOp> : IParallelJob where TOp : struct, IBinaryOp
    {
        public TOp Op;
        public float* A, B, C;
        public IntBuf Dims, Xa, Xb, Xc;
        public int R;

        public readonly int Count => R == 1 ? (Dims[0] + Chunk - 1) / Chunk : Dims[0];

        public void Execute(int index)
        {
            if (R == 1)
            {
                long s = (long)index * Chunk;
                int len = (int)Math.Min(Chunk, Dims[0] - s);
                BinaryInner(Op, A + s * Xa[0], Xa[0], B + s * Xb[0], Xb[0], C + s * Xc[0], Xc[0], len);
                return;
            }
            ReadOnlySpan<int> d = Dims, xa = Xa, xb = Xb, xc = Xc;
            BinaryCoalesced(Op, R - 1, d[1..], xa[1..], xb[1..], xc[1..],
                A + (long)index * Xa[0], B + (long)index * Xb[0], C + (long)index * Xc[0]);
        }
    }

    /// <summary>The serial loop over already-coalesced dims (r ≥ 1).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BinaryCoalesced<TOp>(TOp op, int r, ReadOnlySpan<int> dims, ReadOnlySpan<int> xa, ReadOnlySpan<int> xb,
        ReadOnlySpan<int> xc, float* a, float* b, float* c) where TOp : struct, IBinaryOp
    {
        int n = dims[r - 1], ia = xa[r - 1], ib = xb[r - 1], ic = xc[r - 1];
        if (r == 1) { BinaryInner(op, a, ia, b, ib, c, ic, n); return; }
        Span<int> idx = stackalloc int[r];
        idx.Clear();
        long outer = 1;
        for (int k = 0; k < r - 1; k++) outer *= dims[k];
        long oa = 0, ob = 0, oc = 0;
        for (long o = 0; o < outer; o++)
        {
            BinaryInner(op, a + oa, ia, b + ob, ib, c + oc, ic, n);
            for (int k = r - 2; k >= 0; k--)
            {
                oa += xa[k]; ob += xb[k]; oc += xc[k];
                if (++idx[k] < dims[k]) break;
                oa -= (long)xa[k] * dims[k]; ob -= (long)xb[k] * dims[k]; oc -= (long)xc[k] * dims[k];
                idx[k] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BinaryInner<TOp>(TOp op, float* a, int sa, float* b, int sb, float* c, int sc, int n) where TOp : struct, IBinaryOp
    {
        if (sc == 1)
        {
            if (sa == 1 && sb == 1) { VV(op, a, b, c, n); return; }
            if (sa == 1 && sb == 0) { VS(op, a, *b, c, n); return; }
            if (sa == 0 && sb == 1) { SV(op, *a, b, c, n); return; }
        }
        for (int i = 0; i < n; i++) c[(long)i * sc] = op.Apply(a[(long)i * sa], b[(long)i * sb]);
    }

    /// <summary>c[i] = op(a[i], b[i]) on dense arrays.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void VV<TOp>(TOp op, float* a, float* b, float* c, int n) where TOp : struct, IBinaryOp
    {
        int i = 0;
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512)
        {
            for (; i <= n - 64; i += 64)
            {
                var r0 = op.Apply(Vector512.Load(a + i), Vector512.Load(b + i));
                var r1 = op.Apply(Vector512.Load(a + i + 16), Vector512.Load(b + i + 16));
                var r2 = op.Apply(Vector512.Load(a + i + 32), Vector512.Load(b + i + 32));
                var r3 = op.Apply(Vector512.Load(a + i + 48), Vector512.Load(b + i + 48));
                r0.Store(c + i); r1.Store(c + i + 16); r2.Store(c + i + 32); r3.Store(c + i + 48);
            }
            for (; i <= n - 16; i += 16) op.Apply(Vector512.Load(a + i), Vector512.Load(b + i)).Store(c + i);
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - 32; i += 32)
            {
                var r0 = op.Apply(Vector256.Load(a + i), Vector256.Load(b + i));
                var r1 = op.Apply(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8));
                var r2 = op.Apply(Vector256.Load(a + i + 16), Vector256.Load(b + i + 16));
                var r3 = op.Apply(Vector256.Load(a + i + 24), Vector256.Load(b + i + 24));
                r0.Store(c + i); r1.Store(c + i + 8); r2.Store(c + i + 16); r3.Store(c + i + 24);
            }
            for (; i <= n - 8; i += 8) op.Apply(Vector256.Load(a + i), Vector256.Load(b + i)).Store(c + i);
        }
        for (; i < n; i++) c[i] = op.Apply(a[i], b[i]);
    }

    /// <summary>c[i] = op(a[i], b) (b a broadcast scalar).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void VS<TOp>(TOp op, float* a, float b, float* c, int n) where TOp : struct, IBinaryOp
    {
        int i = 0;
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512)
        {
            var vb = Vector512.Create(b);
            for (; i <= n - 32; i += 32)
            {
                var r0 = op.Apply(Vector512.Load(a + i), vb);
                var r1 = op.Apply(Vector512.Load(a + i + 16), vb);
                r0.Store(c + i); r1.Store(c + i + 16);
            }
            for (; i <= n - 16; i += 16) op.Apply(Vector512.Load(a + i), vb).Store(c + i);
        }
        if (level >= SimdLevel.Vector256)
        {
            var vb = Vector256.Create(b);
            for (; i <= n - 8; i += 8) op.Apply(Vector256.Load(a + i), vb).Store(c + i);
        }
        for (; i < n; i++) c[i] = op.Apply(a[i], b);
    }

    /// <summary>c[i] = op(a, b[i]) (a a broadcast scalar).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void SV<TOp>(TOp op, float a, float* b, float* c, int n) where TOp : struct, IBinaryOp
    {
        int i = 0;
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512)
        {
            var va = Vector512.Create(a);
            for (; i <= n - 32; i += 32)
            {
                var r0 = op.Apply(va, Vector512.Load(b + i));
                var r1 = op.Apply(va, Vector512.Load(b + i + 16));
                r0.Store(c + i); r1.Store(c + i + 16);
            }
            for (; i <= n - 16; i += 16) op.Apply(va, Vector512.Load(b + i)).Store(c + i);
        }
        if (level >= SimdLevel.Vector256)
        {
            var va = Vector256.Create(a);
            for (; i <= n - 8; i += 8) op.Apply(va, Vector256.Load(b + i)).Store(c + i);
        }
        for (; i < n; i++) c[i] = op.Apply(a, b[i]);
    }

    /// <summary>y = op(x) over <paramref name="shape"/> with strides for x and y.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Unary<TOp>(TOp op, ReadOnlySpan<int> shape, float* x, ReadOnlySpan<int> sx, float* y, ReadOnlySpan<int> sy)
        where TOp : struct, IUnaryOp
    {
        long total = 1;
        foreach (var d in shape) total *= d;
        if (total == 0) return;
        var job = new UnaryJob<TOp> { Op = op, X = x, Y = y };
        IntBuf dummy = default;
        int r = Coalesce(shape, sx, sy, sy, job.Dims, job.Xx, job.Xy, dummy);
        job.R = r;
        if (r == 0) { *y = op.Apply(*x); return; }
        if (total >= ParallelThreshold && Workers.ThreadCount > 1 && !Workers.InsideJob)
        {
            Workers.For(job.Count, job);
            return;
        }
        UnaryCoalesced(op, r, job.Dims, job.Xx, job.Xy, x, y);
    }

    private struct UnaryJob<TOp> : IParallelJob where TOp : struct, IUnaryOp
    {
        public TOp Op;
        public float* X, Y;
        public IntBuf Dims, Xx, Xy;
        public int R;

        public readonly int Count => R == 1 ? (Dims[0] + Chunk - 1) / Chunk : Dims[0];

        public void Execute(int index)
        {
            if (R == 1)
            {
                long s = (long)index * Chunk;
                int len = (int)Math.Min(Chunk, Dims[0] - s);
                UnaryInner(Op, X + s * Xx[0], Xx[0], Y + s * Xy[0], Xy[0], len);
                return;
            }
            ReadOnlySpan<int> d = Dims, xx = Xx, xy = Xy;
            UnaryCoalesced(Op, R - 1, d[1..], xx[1..], xy[1..], X + (long)index * Xx[0], Y + (long)index * Xy[0]);
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void UnaryCoalesced<TOp>(TOp op, int r, ReadOnlySpan<int> dims, ReadOnlySpan<int> xx, ReadOnlySpan<int> xy,
        float* x, float* y) where TOp : struct, IUnaryOp
    {
        int n = dims[r - 1], ix = xx[r - 1], iy = xy[r - 1];
        if (r == 1) { UnaryInner(op, x, ix, y, iy, n); return; }
        Span<int> idx = stackalloc int[r];
        idx.Clear();
        long outer = 1;
        for (int k = 0; k < r - 1; k++) outer *= dims[k];
        long ox = 0, oy = 0;
        for (long o = 0; o < outer; o++)
        {
            UnaryInner(op, x + ox, ix, y + oy, iy, n);
            for (int k = r - 2; k >= 0; k--)
            {
                ox += xx[k]; oy += xy[k];
                if (++idx[k] < dims[k]) break;
                ox -= (long)xx[k] * dims[k]; oy -= (long)xy[k] * dims[k];
                idx[k] = 0;
            }
        }
    }

    private static void UnaryInner<TOp>(TOp op, float* x, int sx, float* y, int sy, int n) where TOp : struct, IUnaryOp
    {
        if (sx == 1 && sy == 1) { U(op, x, y, n); return; }
        for (int i = 0; i < n; i++) y[(long)i * sy] = op.Apply(x[(long)i * sx]);
    }

    /// <summary>y[i] = op(x[i]) on dense arrays.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void U<TOp>(TOp op, float* x, float* y, int n) where TOp : struct, IUnaryOp
    {
        int i = 0;
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512)
        {
            for (; i <= n - 32; i += 32)
            {
                var r0 = op.Apply(Vector512.Load(x + i));
                var r1 = op.Apply(Vector512.Load(x + i + 16));
                r0.Store(y + i); r1.Store(y + i + 16);
            }
            for (; i <= n - 16; i += 16) op.Apply(Vector512.Load(x + i)).Store(y + i);
        }
        if (level >= SimdLevel.Vector256)
        {
            for (; i <= n - 8; i += 8) op.Apply(Vector256.Load(x + i)).Store(y + i);
        }
        for (; i < n; i++) y[i] = op.Apply(x[i]);
    }
}
