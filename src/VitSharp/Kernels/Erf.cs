using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Kernels;

/// <summary>
/// A SIMD register abstraction so each element-wise kernel is written once and instantiated for
/// Vector512, Vector256 and plain float (the scalar path and loop tails). The JIT specialises generic
/// methods over these structs, so the wrappers cost nothing.
/// </summary>
internal interface IVec<TSelf> where TSelf : struct, IVec<TSelf>
{
    static abstract int Count { get; }
    static abstract TSelf Load(ref float p);
    static abstract void Store(TSelf v, ref float p);
    static abstract TSelf Splat(float x);
    static abstract TSelf Add(TSelf a, TSelf b);
    static abstract TSelf Sub(TSelf a, TSelf b);
    static abstract TSelf Mul(TSelf a, TSelf b);
    static abstract TSelf Div(TSelf a, TSelf b);
    /// <summary>a * b + c.</summary>
    static abstract TSelf Fma(TSelf a, TSelf b, TSelf c);
    /// <summary>max(a, b) with x86 maxps semantics: b when either is NaN (one instruction; .NET's IEEE Max costs
    /// three). Put constants first so a NaN argument passes through.</summary>
    static abstract TSelf Max(TSelf a, TSelf b);
    /// <summary>min(a, b), b when either is NaN (as <see cref="Max"/>).</summary>
    static abstract TSelf Min(TSelf a, TSelf b);
    static abstract TSelf Abs(TSelf a);
    static abstract TSelf Round(TSelf a);
    /// <summary>All-ones lanes where a &lt; b.</summary>
    static abstract TSelf LessThan(TSelf a, TSelf b);
    /// <summary>Lanes of a where mask is set, else b.</summary>
    static abstract TSelf Select(TSelf mask, TSelf a, TSelf b);
    static abstract TSelf And(TSelf a, TSelf b);
    static abstract TSelf Or(TSelf a, TSelf b);
    static abstract TSelf Xor(TSelf a, TSelf b);
    /// <summary>2^n for integral n in [-127, 127] given as floats (n = -127 gives 0).</summary>
    static abstract TSelf Pow2(TSelf n);
    static abstract float Sum(TSelf a);
    static abstract float MaxAcross(TSelf a);
}

internal struct V512 : IVec<V512>
{
    public Vector512<float> V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V512(Vector512<float> v) => V = v;
    public static int Count => Vector512<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Load(ref float p) => new(Vector512.LoadUnsafe(ref p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V512 v, ref float p) => v.V.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Splat(float x) => new(Vector512.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Add(V512 a, V512 b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Sub(V512 a, V512 b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Mul(V512 a, V512 b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Div(V512 a, V512 b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Fma(V512 a, V512 b, V512 c) => new(Vector512.FusedMultiplyAdd(a.V, b.V, c.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Max(V512 a, V512 b) => new(Avx512F.Max(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Min(V512 a, V512 b) => new(Avx512F.Min(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Abs(V512 a) => new(Vector512.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Round(V512 a) => new(Vector512.Round(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 LessThan(V512 a, V512 b) => new(Vector512.LessThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Select(V512 m, V512 a, V512 b) => new(Vector512.ConditionalSelect(m.V, a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 And(V512 a, V512 b) => new(a.V & b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Or(V512 a, V512 b) => new(a.V | b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V512 Xor(V512 a, V512 b) => new(a.V ^ b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V512 Pow2(V512 n) => new(Vector512.ShiftLeft(Avx512F.ConvertToVector512Int32WithTruncation(n.V) + Vector512.Create(127), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V512 a) => Vector512.Sum(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(V512 a)
    {
        var m = Vector256.Max(a.V.GetLower(), a.V.GetUpper());
        var q = Vector128.Max(m.GetLower(), m.GetUpper());
        return MathF.Max(MathF.Max(q[0], q[1]), MathF.Max(q[2], q[3]));
    }
}

internal struct V256 : IVec<V256>
{
    public Vector256<float> V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V256(Vector256<float> v) => V = v;
    public static int Count => Vector256<float>.Count;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Load(ref float p) => new(Vector256.LoadUnsafe(ref p));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V256 v, ref float p) => v.V.StoreUnsafe(ref p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Splat(float x) => new(Vector256.Create(x));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Add(V256 a, V256 b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Sub(V256 a, V256 b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Mul(V256 a, V256 b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Div(V256 a, V256 b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Fma(V256 a, V256 b, V256 c) => new(Vector256.FusedMultiplyAdd(a.V, b.V, c.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Max(V256 a, V256 b) => new(Avx.Max(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Min(V256 a, V256 b) => new(Avx.Min(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Abs(V256 a) => new(Vector256.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Round(V256 a) => new(Vector256.Round(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 LessThan(V256 a, V256 b) => new(Vector256.LessThan(a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Select(V256 m, V256 a, V256 b) => new(Vector256.ConditionalSelect(m.V, a.V, b.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 And(V256 a, V256 b) => new(a.V & b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Or(V256 a, V256 b) => new(a.V | b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V256 Xor(V256 a, V256 b) => new(a.V ^ b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static V256 Pow2(V256 n) => new(Vector256.ShiftLeft(Avx.ConvertToVector256Int32WithTruncation(n.V) + Vector256.Create(127), 23).AsSingle());
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V256 a) => Vector256.Sum(a.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float MaxAcross(V256 a)
    {
        var q = Vector128.Max(a.V.GetLower(), a.V.GetUpper());
        return MathF.Max(MathF.Max(q[0], q[1]), MathF.Max(q[2], q[3]));
    }
}

/// <summary>One float lane: the scalar path and the tails of vector loops, using the same formulas.</summary>
internal struct V1 : IVec<V1>
{
    public float V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public V1(float v) => V = v;
    public static int Count => 1;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Load(ref float p) => new(p);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static void Store(V1 v, ref float p) => p = v.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Splat(float x) => new(x);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Add(V1 a, V1 b) => new(a.V + b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Sub(V1 a, V1 b) => new(a.V - b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Mul(V1 a, V1 b) => new(a.V * b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Div(V1 a, V1 b) => new(a.V / b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Fma(V1 a, V1 b, V1 c) => new(MathF.FusedMultiplyAdd(a.V, b.V, c.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Max(V1 a, V1 b) => new(a.V > b.V ? a.V : b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Min(V1 a, V1 b) => new(a.V < b.V ? a.V : b.V);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Abs(V1 a) => new(MathF.Abs(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Round(V1 a) => new(MathF.Round(a.V));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 LessThan(V1 a, V1 b) => new(BitConverter.Int32BitsToSingle(a.V < b.V ? -1 : 0));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Select(V1 m, V1 a, V1 b) => BitConverter.SingleToInt32Bits(m.V) != 0 ? a : b;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 And(V1 a, V1 b) => new(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a.V) & BitConverter.SingleToInt32Bits(b.V)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Or(V1 a, V1 b) => new(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a.V) | BitConverter.SingleToInt32Bits(b.V)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Xor(V1 a, V1 b) => new(BitConverter.Int32BitsToSingle(BitConverter.SingleToInt32Bits(a.V) ^ BitConverter.SingleToInt32Bits(b.V)));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static V1 Pow2(V1 n) => new(BitConverter.Int32BitsToSingle(((int)n.V + 127) << 23));
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float Sum(V1 a) => a.V;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static float MaxAcross(V1 a) => a.V;
}

/// <summary>
/// Vectorised transcendental functions for float32 (exp, erf, tanh), written once over <see cref="IVec{TSelf}"/>.
/// Polynomial coefficients were fitted by weighted least squares in double precision (relative error
/// weighting), then checked over dense sweeps in the tests.
/// </summary>
internal static unsafe class VMath
{
    private const float Log2E = 1.44269504088896341f;
    private const float Ln2Hi = 0.693359375f;      // few mantissa bits: n * Ln2Hi is exact
    private const float Ln2Lo = -2.12194440e-4f;
    private const float SignMask = -0.0f;

    /// <summary>e^x with relative error ≈ 1e-7 on [-87, 88.7]; tiny results flush to 0, -inf gives 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Exp<TV>(TV x) where TV : struct, IVec<TV>
    {
        x = TV.Max(TV.Splat(-87.5f), TV.Min(TV.Splat(88.7f), x));  // constants first: a NaN x passes through
        var n = TV.Round(TV.Mul(x, TV.Splat(Log2E)));
        var r = TV.Fma(n, TV.Splat(-Ln2Hi), x);
        r = TV.Fma(n, TV.Splat(-Ln2Lo), r);
        var p = TV.Splat(1.382942432e-03f);
        p = TV.Fma(p, r, TV.Splat(8.374774508e-03f));
        p = TV.Fma(p, r, TV.Splat(4.166835816e-02f));
        p = TV.Fma(p, r, TV.Splat(1.666642080e-01f));
        p = TV.Fma(p, r, TV.Splat(4.999999149e-01f));
        p = TV.Fma(p, r, TV.Splat(1.000000036e+00f));
        p = TV.Fma(p, r, TV.Splat(1.000000001e+00f));
        // Scale by 2^(n-1) then 2 so that n = 128 (x near 88.7) does not overflow the exponent field;
        // n-1 = -127 gives an exact 0 (values below ~1e-38 are flushed).
        return TV.Mul(TV.Add(p, p), TV.Pow2(TV.Sub(n, TV.Splat(1f))));
    }

    /// <summary>erf(x), max relative error about 2e-7 (float rounding level). GELU uses the erfcx form of
    /// <see cref="NormalCdfPdf{TV}"/> instead.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Erf<TV>(TV x) where TV : struct, IVec<TV>
    {
        var a = TV.Abs(x);
        // |x| < 1: erf(x) = x·P(x²).
        var t = TV.Mul(a, a);
        var p = TV.Splat(-5.667938490e-04f);
        p = TV.Fma(p, t, TV.Splat(4.927407751e-03f));
        p = TV.Fma(p, t, TV.Splat(-2.672088501e-02f));
        p = TV.Fma(p, t, TV.Splat(1.128057865e-01f));
        p = TV.Fma(p, t, TV.Splat(-3.761239066e-01f));
        p = TV.Fma(p, t, TV.Splat(1.128379147e+00f));
        var small = TV.Mul(a, p);
        // 1 <= |x| < 4: erf(x) = 1 - e^(-x²)·Q(1/x), Q fitted to erfc(x)·e^(x²). Beyond 4, erf = 1 in float
        // (e^(-x²)·Q < 3e-8 there), so only Q's argument is clamped; Exp flushes huge arguments to 0.
        var c = TV.Min(TV.Splat(4f), TV.Max(TV.Splat(0.5f), a));
        var u = TV.Div(TV.Splat(1f), c);
        var q = TV.Splat(-1.602188374e-03f);
        q = TV.Fma(q, u, TV.Splat(-9.467595137e-03f));
        q = TV.Fma(q, u, TV.Splat(1.019553102e-01f));
        q = TV.Fma(q, u, TV.Splat(-3.309210708e-01f));
        q = TV.Fma(q, u, TV.Splat(5.581554404e-01f));
        q = TV.Fma(q, u, TV.Splat(-4.976086037e-01f));
        q = TV.Fma(q, u, TV.Splat(4.863224712e-02f));
        q = TV.Fma(q, u, TV.Splat(5.581150674e-01f));
        q = TV.Fma(q, u, TV.Splat(3.249089273e-04f));
        var large = TV.Fma(TV.Mul(TV.Splat(-1f), Exp(TV.Mul(TV.Splat(-1f), t))), q, TV.Splat(1f));
        var r = TV.Select(TV.LessThan(a, TV.Splat(1f)), small, large);
        return TV.Or(r, TV.And(x, TV.Splat(SignMask)));
    }

    /// <summary>
    /// Φ(x) and φ(x), the standard normal CDF and density, from one exp: with z = |x|/√2, Φ(−|x|) = ½·e^(−z²)·erfcx(z),
    /// where erfcx (the scaled complementary error function) is a smooth degree-5/6 rational on z ≤ 9.5 fitted for
    /// relative error by scripts/fit_erfcx.py (4e-7 in float), and e^(−z²) = e^(−x²/2) is also the density's own
    /// exponential. One branch, no cancellation in the negative tail, ~30 operations (the erf-based form took ~45):
    /// GELU and its derivative are x·Φ(x) and Φ(x) + x·φ(x).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV NormalCdfPdf<TV>(TV x, out TV pdf) where TV : struct, IVec<TV>
    {
        var e = Exp(TV.Mul(TV.Mul(x, x), TV.Splat(-0.5f)));
        // Beyond z = 9.5, e^(−z²) is 0 in float; the clamp keeps P/Q finite for infinite x (constant first: NaN passes).
        var z = TV.Min(TV.Splat(9.5f), TV.Mul(TV.Abs(x), TV.Splat(0.70710678118654752f)));
        var p = TV.Splat(9.743507951e-03f);
        p = TV.Fma(p, z, TV.Splat(9.096573293e-02f));
        p = TV.Fma(p, z, TV.Splat(3.965315223e-01f));
        p = TV.Fma(p, z, TV.Splat(9.908310771e-01f));
        p = TV.Fma(p, z, TV.Splat(1.426402092e+00f));
        p = TV.Fma(p, z, TV.Splat(1f));
        var q = TV.Splat(1.726994663e-02f);
        q = TV.Fma(q, z, TV.Splat(1.612312943e-01f));
        q = TV.Fma(q, z, TV.Splat(7.114946246e-01f));
        q = TV.Fma(q, z, TV.Splat(1.836503983e+00f));
        q = TV.Fma(q, z, TV.Splat(2.873593330e+00f));
        q = TV.Fma(q, z, TV.Splat(2.554781199e+00f));
        q = TV.Fma(q, z, TV.Splat(1f));
        var tail = TV.Mul(TV.Mul(e, TV.Splat(0.5f)), TV.Div(p, q)); // Φ(−|x|)
        pdf = TV.Mul(e, TV.Splat(0.39894228040143268f));
        return TV.Select(TV.LessThan(x, TV.Splat(0f)), tail, TV.Sub(TV.Splat(1f), tail));
    }

    /// <summary>Off: the exact GELU by <see cref="NormalCdfPdf{TV}"/> on AVX-512 too (tests cover both; an A/B knob).</summary>
    internal static bool UseGeluTable = true;

    /// <summary>GELU(x) = x·Φ(x) (exact form): on AVX-512 from <see cref="GeluTable"/> (piecewise polynomials, 20-27 %
    /// faster in the GEMM epilogues), else by <see cref="NormalCdfPdf{TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Gelu<TV>(TV x) where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V512) && Avx512F.IsSupported && UseGeluTable)
        {
            var v = Unsafe.As<TV, V512>(ref x).V;
            var (i, u) = GeluInterval512(v);
            var r = new V512(v * GeluTable512(GeluPhi, i, u));
            return Unsafe.As<V512, TV>(ref r);
        }
        return TV.Mul(x, NormalCdfPdf(x, out _));
    }

    /// <summary>GELU'(x) = Φ(x) + x·φ(x), as <see cref="Gelu{TV}"/>.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV GeluGrad<TV>(TV x) where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V512) && Avx512F.IsSupported && UseGeluTable)
        {
            var (i, u) = GeluInterval512(Unsafe.As<TV, V512>(ref x).V);
            var r = new V512(GeluTable512(GeluGradient, i, u));
            return Unsafe.As<V512, TV>(ref r);
        }
        var cdf = NormalCdfPdf(x, out var pdf);
        return TV.Fma(x, pdf, cdf);
    }

    /// <summary>GELU(x) and GELU'(x) together (one interval lookup on AVX-512, one exp otherwise).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV GeluAndGrad<TV>(TV x, out TV grad) where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V512) && Avx512F.IsSupported && UseGeluTable)
        {
            var v = Unsafe.As<TV, V512>(ref x).V;
            var (i, u) = GeluInterval512(v);
            var g = new V512(GeluTable512(GeluGradient, i, u));
            var r = new V512(v * GeluTable512(GeluPhi, i, u));
            grad = Unsafe.As<V512, TV>(ref g);
            return Unsafe.As<V512, TV>(ref r);
        }
        var cdf = NormalCdfPdf(x, out var pdf);
        grad = TV.Fma(x, pdf, cdf);
        return TV.Mul(x, cdf);
    }

    // The tables pinned once: static readonly pointers, so the JIT embeds their addresses.
    private static readonly float* GeluPhi = Pin(GeluTable.Phi), GeluGradient = Pin(GeluTable.Grad);

    private static float* Pin(float[] table)
    {
        var p = (float*)NativeMemory.AlignedAlloc((nuint)(table.Length * sizeof(float)), 64);
        table.CopyTo(new Span<float>(p, table.Length));
        return p;
    }

    /// <summary>The interval of x (clamped to ±<see cref="GeluTable.Limit"/>) among the table's 16 and the local
    /// variable u ∈ [−½, ½] in it. A NaN x gives a NaN u, so the result stays NaN.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (Vector512<int> Index, Vector512<float> U) GeluInterval512(Vector512<float> x)
    {
        const float L = GeluTable.Limit, scale = GeluTable.Intervals / (2 * L);
        // y = interval + ½ + u, clamped (which clamps x to ±L) just inside (−½, 15½) so that rounding cannot leave
        // the table whatever its tie rule; constants first, so a NaN passes through.
        var y = Avx512F.Min(Vector512.Create(GeluTable.Intervals - 0.500002f), Avx512F.Max(Vector512.Create(-0.499998f),
            Avx512F.FusedMultiplyAdd(x, Vector512.Create(scale), Vector512.Create(L * scale - 0.5f))));
        var r = Vector512.Round(y);
        return (Avx512F.ConvertToVector512Int32WithTruncation(r), y - r);
    }

    /// <summary>The degree-6 polynomial of interval i at u, each coefficient picked by vpermps from the register
    /// holding that power's 16 intervals.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector512<float> GeluTable512(float* t, Vector512<int> i, Vector512<float> u)
    {
        var p = Avx512F.PermuteVar16x32(Vector512.Load(t + 96), i);
        p = Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t + 80), i));
        p = Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t + 64), i));
        p = Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t + 48), i));
        p = Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t + 32), i));
        p = Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t + 16), i));
        return Avx512F.FusedMultiplyAdd(p, u, Avx512F.PermuteVar16x32(Vector512.Load(t), i));
    }

    /// <summary>tanh(x), relative error about 2e-7.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Tanh<TV>(TV x) where TV : struct, IVec<TV>
    {
        var a = TV.Abs(x);
        // |x| < 0.625: odd polynomial (the exp form below cancels badly near 0).
        var t = TV.Mul(a, a);
        var p = TV.Splat(2.148957375e-03f);
        p = TV.Fma(p, t, TV.Splat(-8.184633579e-03f));
        p = TV.Fma(p, t, TV.Splat(2.170398953e-02f));
        p = TV.Fma(p, t, TV.Splat(-5.394745228e-02f));
        p = TV.Fma(p, t, TV.Splat(1.333321249e-01f));
        p = TV.Fma(p, t, TV.Splat(-3.333333101e-01f));
        var small = TV.Fma(TV.Mul(a, t), p, a);
        // tanh(a) = 1 - 2 / (e^(2a) + 1); a is capped where tanh is 1 in float.
        var e = Exp(TV.Min(TV.Splat(40f), TV.Add(a, a)));
        var large = TV.Sub(TV.Splat(1f), TV.Div(TV.Splat(2f), TV.Add(e, TV.Splat(1f))));
        var r = TV.Select(TV.LessThan(a, TV.Splat(0.625f)), small, large);
        return TV.Or(r, TV.And(x, TV.Splat(SignMask)));
    }
}

/// <summary>The error function over spans (Vector512 → Vector256 → scalar by <see cref="Cpu.Level"/>).</summary>
public static class Erf
{
    /// <summary>erf of one value (same formula as the vector paths).</summary>
    public static float Scalar(float x) => VMath.Erf(new V1(x)).V;

    public static void Apply(ReadOnlySpan<float> x, Span<float> y)
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        switch (Cpu.Level)
        {
            case SimdLevel.Vector512: Run<V512>(x, y); break;
            case SimdLevel.Vector256: Run<V256>(x, y); break;
            default: Run<V1>(x, y); break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Run<TV>(ReadOnlySpan<float> x, Span<float> y) where TV : struct, IVec<TV>
    {
        ref float xs = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(x);
        ref float ys = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(y);
        int n = x.Length, i = 0;
        for (; i <= n - TV.Count; i += TV.Count)
            TV.Store(VMath.Erf(TV.Load(ref Unsafe.Add(ref xs, i))), ref Unsafe.Add(ref ys, i));
        for (; i < n; i++) Unsafe.Add(ref ys, i) = VMath.Erf(new V1(Unsafe.Add(ref xs, i))).V;
    }
}
