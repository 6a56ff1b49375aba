using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>An element-wise function y = f(x), written once for every <see cref="IVec{TSelf}"/>.</summary>
internal interface IVecUnaryOp
{
    static abstract TV Apply<TV>(TV x) where TV : struct, IVec<TV>;
}

/// <summary>An element-wise backward: dx = f'(a) · g, where a is the saved input or output.</summary>
internal interface IVecBinaryOp
{
    static abstract TV Apply<TV>(TV a, TV g) where TV : struct, IVec<TV>;
}

internal struct GeluOp : IVecUnaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x) where TV : struct, IVec<TV>
    {
        // x·Φ(x), Φ from the erfcx form (see VMath.NormalCdfPdf, no cancellation for negative x) or a table.
        return VMath.Gelu(x);
    }
}

internal struct GeluGradOp : IVecBinaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x, TV g) where TV : struct, IVec<TV>
    {
        // d/dx [x Φ(x)] = Φ(x) + x φ(x)
        return TV.Mul(g, VMath.GeluGrad(x));
    }
}

internal struct GeluTanhOp : IVecUnaryOp
{
    internal const float K0 = 0.79788456080286536f; // sqrt(2/pi)
    internal const float K1 = 0.044715f;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x) where TV : struct, IVec<TV>
    {
        var x2 = TV.Mul(x, x);
        var u = TV.Mul(TV.Mul(x, TV.Splat(K0)), TV.Fma(x2, TV.Splat(K1), TV.Splat(1f)));
        var th = VMath.Tanh(u);
        var hx = TV.Mul(x, TV.Splat(0.5f));
        return TV.Fma(hx, th, hx);
    }
}

internal struct GeluTanhGradOp : IVecBinaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x, TV g) where TV : struct, IVec<TV>
    {
        var x2 = TV.Mul(x, x);
        var u = TV.Mul(TV.Mul(x, TV.Splat(GeluTanhOp.K0)), TV.Fma(x2, TV.Splat(GeluTanhOp.K1), TV.Splat(1f)));
        var th = VMath.Tanh(u);
        var du = TV.Mul(TV.Splat(GeluTanhOp.K0), TV.Fma(x2, TV.Splat(3f * GeluTanhOp.K1), TV.Splat(1f)));
        var sech2 = TV.Fma(TV.Mul(th, TV.Splat(-1f)), th, TV.Splat(1f));
        // 0.5(1 + th) + 0.5 x sech² du
        var d = TV.Fma(TV.Mul(TV.Mul(x, TV.Splat(0.5f)), sech2), du, TV.Fma(th, TV.Splat(0.5f), TV.Splat(0.5f)));
        return TV.Mul(g, d);
    }
}

internal struct TanhOp : IVecUnaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x) where TV : struct, IVec<TV> => VMath.Tanh(x);
}

/// <summary>Backward of tanh from its output y: g (1 - y²).</summary>
internal struct TanhGradOp : IVecBinaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV y, TV g) where TV : struct, IVec<TV> =>
        TV.Mul(g, TV.Fma(TV.Mul(y, TV.Splat(-1f)), y, TV.Splat(1f)));
}

internal struct ReluOp : IVecUnaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x) where TV : struct, IVec<TV> => TV.Max(TV.Splat(0f), x);  // NaN passes through, as in PyTorch
}

internal struct ReluGradOp : IVecBinaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x, TV g) where TV : struct, IVec<TV> =>
        TV.Select(TV.LessThan(TV.Splat(0f), x), g, TV.Splat(0f));
}

internal struct IdentityOp : IVecUnaryOp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Apply<TV>(TV x) where TV : struct, IVec<TV> => x;
}

/// <summary>Drivers that run element-wise ops over spans: SIMD level dispatch, and worker threads for large inputs.</summary>
internal static unsafe class VecElementwise
{
    private const int ParallelThreshold = 1 << 15;
    private const int Chunk = 1 << 14;

    public static void Unary<TOp>(ReadOnlySpan<float> x, Span<float> y) where TOp : struct, IVecUnaryOp
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        int n = x.Length;
        fixed (float* px = x, py = y)
        {
            if (n < ParallelThreshold || Workers.ThreadCount == 1) UnaryRange<TOp>(px, py, n, Cpu.Level);
            else Workers.For((n + Chunk - 1) / Chunk, new UnaryJob<TOp> { X = px, Y = py, N = n, Level = Cpu.Level });
        }
    }

    public static void Binary<TOp>(ReadOnlySpan<float> a, ReadOnlySpan<float> g, Span<float> y) where TOp : struct, IVecBinaryOp
    {
        if (g.Length < a.Length || y.Length < a.Length) throw new ArgumentException("span lengths differ");
        int n = a.Length;
        fixed (float* pa = a, pg = g, py = y)
        {
            if (n < ParallelThreshold || Workers.ThreadCount == 1) BinaryRange<TOp>(pa, pg, py, n, Cpu.Level);
            else Workers.For((n + Chunk - 1) / Chunk, new BinaryJob<TOp> { A = pa, G = pg, Y = py, N = n, Level = Cpu.Level });
        }
    }

    private struct UnaryJob<TOp> : IParallelJob where TOp : struct, IVecUnaryOp
    {
        public float* X, Y;
        public int N;
        public SimdLevel Level;
        public readonly void Execute(int index)
        {
            int s = index * Chunk, len = Math.Min(Chunk, N - s);
            UnaryRange<TOp>(X + s, Y + s, len, Level);
        }
    }

    private struct BinaryJob<TOp> : IParallelJob where TOp : struct, IVecBinaryOp
    {
        public float* A, G, Y;
        public int N;
        public SimdLevel Level;
        public readonly void Execute(int index)
        {
            int s = index * Chunk, len = Math.Min(Chunk, N - s);
            BinaryRange<TOp>(A + s, G + s, Y + s, len, Level);
        }
    }

    internal static void UnaryRange<TOp>(float* x, float* y, int n, SimdLevel level) where TOp : struct, IVecUnaryOp
    {
        switch (level)
        {
            case SimdLevel.Vector512: UnaryCore<TOp, V512>(x, y, n); break;
            case SimdLevel.Vector256: UnaryCore<TOp, V256>(x, y, n); break;
            default: UnaryCore<TOp, V1>(x, y, n); break;
        }
    }

    internal static void BinaryRange<TOp>(float* a, float* g, float* y, int n, SimdLevel level) where TOp : struct, IVecBinaryOp
    {
        switch (level)
        {
            case SimdLevel.Vector512: BinaryCore<TOp, V512>(a, g, y, n); break;
            case SimdLevel.Vector256: BinaryCore<TOp, V256>(a, g, y, n); break;
            default: BinaryCore<TOp, V1>(a, g, y, n); break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void UnaryCore<TOp, TV>(float* x, float* y, int n) where TOp : struct, IVecUnaryOp where TV : struct, IVec<TV>
    {
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TOp.Apply(TV.Load(ref x[i])), ref y[i]);
        for (; i < n; i++) y[i] = TOp.Apply(new V1(x[i])).V;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void BinaryCore<TOp, TV>(float* a, float* g, float* y, int n) where TOp : struct, IVecBinaryOp where TV : struct, IVec<TV>
    {
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TOp.Apply(TV.Load(ref a[i]), TV.Load(ref g[i])), ref y[i]);
        for (; i < n; i++) y[i] = TOp.Apply(new V1(a[i]), new V1(g[i])).V;
    }

    /// <summary>In place over a row-major (rows × cols) matrix: h[r, c] = f(h[r, c] + bias[c]) (bias optional).</summary>
    public static void BiasAct<TOp>(Span<float> h, int rows, int cols, ReadOnlySpan<float> bias, Span<float> act) where TOp : struct, IVecUnaryOp
    {
        fixed (float* ph = h, pb = bias, pa = act)
        {
            var job = new BiasActJob<TOp> { H = ph, B = bias.IsEmpty ? null : pb, A = pa, Cols = cols, Level = Cpu.Level, RowsPerJob = Math.Max(1, Chunk / Math.Max(cols, 1)), Rows = rows };
            int jobs = (rows + job.RowsPerJob - 1) / job.RowsPerJob;
            if ((long)rows * cols < ParallelThreshold) for (int j = 0; j < jobs; j++) job.Execute(j);
            else Workers.For(jobs, job);
        }
    }

    private struct BiasActJob<TOp> : IParallelJob where TOp : struct, IVecUnaryOp
    {
        public float* H, B, A;
        public int Cols, Rows, RowsPerJob;
        public SimdLevel Level;
        public readonly void Execute(int index)
        {
            int r0 = index * RowsPerJob, r1 = Math.Min(Rows, r0 + RowsPerJob);
            for (int r = r0; r < r1; r++)
            {
                float* h = H + (long)r * Cols, a = A + (long)r * Cols;
                if (B != null) Add(h, B, Cols, Level);
                UnaryRange<TOp>(h, a, Cols, Level);
            }
        }
    }

    /// <summary>y[i] += b[i].</summary>
    internal static void Add(float* y, float* b, int n, SimdLevel level)
    {
        switch (level)
        {
            case SimdLevel.Vector512: AddCore<V512>(y, b, n); break;
            case SimdLevel.Vector256: AddCore<V256>(y, b, n); break;
            default: AddCore<V1>(y, b, n); break;
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void AddCore<TV>(float* y, float* b, int n) where TV : struct, IVec<TV>
    {
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TV.Add(TV.Load(ref y[i]), TV.Load(ref b[i])), ref y[i]);
        for (; i < n; i++) y[i] += b[i];
    }
}

/// <summary>GEMM epilogue: GELU (exact or tanh) in place on each finished C segment.</summary>
public readonly struct GeluEpilogue(bool tanhApproximation) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public unsafe void Apply(int row, int col0, Span<float> cSegment)
    {
        fixed (float* p = cSegment)
        {
            if (tanhApproximation) VecElementwise.UnaryRange<GeluTanhOp>(p, p, cSegment.Length, Cpu.Level);
            else VecElementwise.UnaryRange<GeluOp>(p, p, cSegment.Length, Cpu.Level);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) { }
}

/// <summary>
/// GEMM epilogue for training: C keeps the pre-activation (needed by the backward) and GELU of it is written to a
/// second row-major matrix (row stride <c>ldo</c>) at the same position.
/// </summary>
public readonly unsafe struct GeluToEpilogue(float* output, int ldo, bool tanhApproximation) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment)
    {
        float* dst = output + (long)row * ldo + col0;
        fixed (float* p = cSegment)
        {
            if (tanhApproximation) VecElementwise.UnaryRange<GeluTanhOp>(p, dst, cSegment.Length, Cpu.Level);
            else VecElementwise.UnaryRange<GeluOp>(p, dst, cSegment.Length, Cpu.Level);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) => GemmPrefetch.Block(output + (long)row0 * ldo + col0, ldo, rows, cols);
}

/// <summary>
/// Activation kernels over spans (GELU exact and tanh, tanh, ReLU) and their backward passes.
/// The GELU backward takes the forward input; the tanh backward takes the forward output.
/// </summary>
public static class Activations
{
    public static void Gelu(ReadOnlySpan<float> x, Span<float> y) => VecElementwise.Unary<GeluOp>(x, y);
    public static void GeluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => VecElementwise.Binary<GeluGradOp>(x, dy, dx);
    public static void GeluTanh(ReadOnlySpan<float> x, Span<float> y) => VecElementwise.Unary<GeluTanhOp>(x, y);
    public static void GeluTanhBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => VecElementwise.Binary<GeluTanhGradOp>(x, dy, dx);
    public static void Tanh(ReadOnlySpan<float> x, Span<float> y) => VecElementwise.Unary<TanhOp>(x, y);
    public static void TanhBackward(ReadOnlySpan<float> y, ReadOnlySpan<float> dy, Span<float> dx) => VecElementwise.Binary<TanhGradOp>(y, dy, dx);
    public static void Relu(ReadOnlySpan<float> x, Span<float> y) => VecElementwise.Unary<ReluOp>(x, y);
    public static void ReluBackward(ReadOnlySpan<float> x, ReadOnlySpan<float> dy, Span<float> dx) => VecElementwise.Binary<ReluGradOp>(x, dy, dx);

    /// <summary>Exact GELU of one value.</summary>
    public static float GeluScalar(float x) => GeluOp.Apply(new V1(x)).V;

    /// <summary>In place on a row-major (rows × cols) matrix: h = h + bias (per column); act = GELU(h).</summary>
    public static void BiasGelu(Span<float> h, int rows, int cols, ReadOnlySpan<float> bias, Span<float> act, bool tanhApproximation = false)
    {
        if (tanhApproximation) VecElementwise.BiasAct<GeluTanhOp>(h, rows, cols, bias, act);
        else VecElementwise.BiasAct<GeluOp>(h, rows, cols, bias, act);
    }
}

/// <summary>GEMM epilogue: adds a residual matrix (row stride <c>ld</c>) to each finished C segment, so
/// C = A·B + bias + residual leaves in one pass (the transformer's x + f(x)).</summary>
public readonly unsafe struct ResidualEpilogue(float* residual, int ld) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment)
    {
        fixed (float* p = cSegment) VecElementwise.Add(p, residual + (long)row * ld + col0, cSegment.Length, Cpu.Level);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) => GemmPrefetch.Block(residual + (long)row0 * ld + col0, ld, rows, cols);
}

/// <summary>GEMM epilogue for the MLP backward: the finished dGELU-output segment becomes the gradient of the
/// pre-activation, C ← C ⊙ GELU'(pre), with the saved pre-activations at row stride <c>ld</c>.</summary>
public readonly unsafe struct GeluBackwardEpilogue(float* preActivation, int ld, bool tanhApproximation) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment)
    {
        float* pre = preActivation + (long)row * ld + col0;
        fixed (float* p = cSegment)
        {
            if (tanhApproximation) VecElementwise.BinaryRange<GeluTanhGradOp>(pre, p, p, cSegment.Length, Cpu.Level);
            else VecElementwise.BinaryRange<GeluGradOp>(pre, p, p, cSegment.Length, Cpu.Level);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) => GemmPrefetch.Block(preActivation + (long)row0 * ld + col0, ld, rows, cols);
}

/// <summary>
/// GEMM epilogue for the training forward of an MLP: the finished pre-activation segment x gives GELU(x), written
/// to a second matrix (row stride <c>ld</c>), and is itself overwritten with GELU'(x) — all the backward needs — so
/// the exact variant evaluates erf once for both (the backward then only multiplies, see <see cref="MulEpilogue"/>).
/// </summary>
public readonly unsafe struct GeluAndGradEpilogue(float* output, int ld, bool tanhApproximation) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment)
    {
        float* dst = output + (long)row * ld + col0;
        fixed (float* p = cSegment)
        {
            switch (Cpu.Level)
            {
                case SimdLevel.Vector512: Core<V512>(p, dst, cSegment.Length, tanhApproximation); break;
                case SimdLevel.Vector256: Core<V256>(p, dst, cSegment.Length, tanhApproximation); break;
                default: Core<V1>(p, dst, cSegment.Length, tanhApproximation); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) => GemmPrefetch.Block(output + (long)row0 * ld + col0, ld, rows, cols);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Core<TV>(float* p, float* dst, int n, bool tanh) where TV : struct, IVec<TV>
    {
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count) One<TV>(p + i, dst + i, tanh);
        for (; i < n; i++) One<V1>(p + i, dst + i, tanh);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void One<TV>(float* p, float* dst, bool tanh) where TV : struct, IVec<TV>
    {
        var x = TV.Load(ref *p);
        if (tanh)
        {
            TV.Store(GeluTanhOp.Apply(x), ref *dst);
            TV.Store(GeluTanhGradOp.Apply(x, TV.Splat(1f)), ref *p);
            return;
        }
        // GELU(x) = x·Φ(x), GELU'(x) = Φ(x) + x·φ(x)
        TV.Store(VMath.GeluAndGrad(x, out var grad), ref *dst);
        TV.Store(grad, ref *p);
    }
}

/// <summary>GEMM epilogue: multiplies each finished C segment element-wise by a saved matrix (row stride <c>ld</c>),
/// e.g. dGELU-output ⊙ GELU'(x) in the MLP backward.</summary>
public readonly unsafe struct MulEpilogue(float* factor, int ld) : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment)
    {
        float* f = factor + (long)row * ld + col0;
        fixed (float* p = cSegment)
        {
            switch (Cpu.Level)
            {
                case SimdLevel.Vector512: Core<V512>(p, f, cSegment.Length); break;
                case SimdLevel.Vector256: Core<V256>(p, f, cSegment.Length); break;
                default: Core<V1>(p, f, cSegment.Length); break;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) => GemmPrefetch.Block(factor + (long)row0 * ld + col0, ld, rows, cols);

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Core<TV>(float* p, float* f, int n) where TV : struct, IVec<TV>
    {
        int i = 0;
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TV.Mul(TV.Load(ref p[i]), TV.Load(ref f[i])), ref p[i]);
        for (; i < n; i++) p[i] *= f[i];
    }
}
