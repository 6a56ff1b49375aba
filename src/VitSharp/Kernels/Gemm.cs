using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>
/// Called on each finished block of C (all of K accumulated, bias added) while it is still in L1, so an
/// activation such as GELU can be fused into a GEMM instead of making another pass over memory.
/// </summary>
/// <remarks>
/// <see cref="Apply"/> receives a segment of one C row: <c>cSegment[j]</c> is C[row, col0 + j]. Segments are at
/// most 32 columns wide on the packed path (a whole row on the small-shape path); every element of C is passed
/// exactly once per call of the GEMM. It is called concurrently from several worker threads (on disjoint
/// segments), so it must not mutate shared state; it is a struct so the call is inlined into the GEMM.
/// Example (GELU): <c>struct Gelu : IGemmEpilogue { public void Apply(int row, int col0, Span&lt;float&gt; s) { for (...) s[j] = gelu(s[j]); } }</c>.
/// </remarks>
public interface IGemmEpilogue
{
    void Apply(int row, int col0, Span<float> cSegment);

    /// <summary>
    /// Called while the micro-kernel computes C[row0..row0+rows, col0..col0+cols), before <see cref="Apply"/> sees
    /// those elements: an epilogue that reads or writes another matrix beside C prefetches that block of it (see
    /// <see cref="GemmPrefetch.Block"/>), so the memory access overlaps the arithmetic; others do nothing.
    /// </summary>
    void Prefetch(int row0, int rows, int col0, int cols);
}

/// <summary>The epilogue that does nothing (plain GEMM).</summary>
public readonly struct NoEpilogue : IGemmEpilogue
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Apply(int row, int col0, Span<float> cSegment) { }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Prefetch(int row0, int rows, int col0, int cols) { }
}

/// <summary>Prefetch helper for <see cref="IGemmEpilogue.Prefetch"/> implementations.</summary>
public static unsafe class GemmPrefetch
{
    /// <summary>Prefetches rows × cols floats at p (row stride ld) into the cache: every cache line they touch.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Block(float* p, long ld, int rows, int cols)
    {
        if (!System.Runtime.Intrinsics.X86.Sse.IsSupported || cols <= 0) return;
        for (int r = 0; r < rows; r++, p += ld)
        {
            byte* line = (byte*)((nint)p & ~(nint)63), end = (byte*)(p + cols);
            for (; line < end; line += 64) System.Runtime.Intrinsics.X86.Sse.Prefetch0(line);
        }
    }
}

/// <summary>
/// A B operand (k×n after op) packed once into the GEMM's micro-panel layout, e.g. a Linear weight packed at load
/// time; pass it to <see cref="Gemm.Sgemm(bool, int, float, ReadOnlySpan{float}, int, PackedB, float, Span{float}, int)"/>.
/// Immutable after creation, safe to share between threads. Layout: K in blocks of <see cref="KBlock"/>; within a
/// block, ⌈n/32⌉ panels of kc×32 floats (row p of the panel = 32 consecutive columns), missing columns zero.
/// </summary>
public sealed class PackedB
{
    internal readonly float[] Data; // pinned, so the aligned start stays put
    internal readonly int Start;    // index of the first float (64-byte aligned)
    internal readonly int NPad;     // n rounded up to the panel width

    public int K { get; }
    public int N { get; }
    public int KBlock { get; }

    internal PackedB(int k, int n, int kBlock)
    {
        K = k;
        N = n;
        KBlock = kBlock;
        NPad = (n + Gemm.NR - 1) / Gemm.NR * Gemm.NR;
        (Data, Start) = Gemm.AllocAligned((long)k * NPad);
    }
}

/// <summary>
/// Single-precision GEMM on row-major matrices: C = alpha * op(A) * op(B) + beta * C, where op(X) is X or Xᵀ.
/// op(A) is m×k, op(B) is k×n, C is m×n; lda/ldb/ldc are row strides (elements) of the stored matrices.
/// </summary>
/// <remarks>
/// BLIS/Goto structure: op(B) is packed in kc×nc blocks of 32-column micro-panels (a row-major B is read in place
/// at the Vector512 level instead), op(A) in mc×kc blocks of 12-row micro-panels (alpha folded in), and a
/// register-tiled 12×32 micro-kernel (Vector512, 24 accumulators; Vector256
/// and scalar variants selected by <see cref="Cpu.Level"/>) runs over them. Work is split over
/// <see cref="Workers"/> as a grid of C regions (rows × 32-column panels) chosen by a cost model; when rows are
/// split, op(B) is packed once and shared. beta = 0 overwrites C without reading it (NaN garbage is fine).
/// For a fixed SIMD level every element is computed by the same FMA sequence whatever the thread count or
/// tiling, so results are bit-identical across thread counts and runs.
/// </remarks>
public static unsafe partial class Gemm
{
    internal const int MR = 12;
    internal const int NR = 32;

    // Cache blocking for Zen 5 (L1d 48 KiB, L2 1 MiB), for the default loop order: a 12×kc A micro-panel (18 KiB at
    // kc = 384) stays in L1 while the kc×32 B micro-panels of a kc×nc block (384 KiB) stream from L2. kc = 384
    // rather than 256 means fewer read-modify-write passes over C (measured: ViT-B/16 batch-1 fc2/proj 76 → 86-90 %
    // of peak); nc = 256 keeps the B block well inside L2 next to the C rows being updated.
    internal static int KC = EnvInt("VIT_GEMM_KC", 384, 16, 4096);
    internal static int MC = EnvInt("VIT_GEMM_MC", 1032, MR, 1 << 16) / MR * MR;

    /// <summary>k block of pre-packed weights: deeper than <see cref="KC"/>, because a model's weights stream from
    /// DRAM once per call and every extra k block is another pass over C (ViT-B/16 batch 1: fc2 82 → 88 %,
    /// proj 85 → 91 % of peak at 768 with 128-wide B blocks).</summary>
    internal static int PackedKC = EnvInt("VIT_GEMM_PACKED_KC", 768, 16, 4096);
    internal static int NC = EnvInt("VIT_GEMM_NC", 256, NR, 1 << 16) / NR * NR;
    internal static int LoopOrder = EnvInt("VIT_GEMM_ORDER", 0, 0, 1);
    private static readonly int PlanBias = EnvInt("VIT_GEMM_PLAN", 0, 0, 2);

    /// <summary>Bit 1: read a row-major B in place (no packing); bit 2: read a transposed A in place; bit 4: read a
    /// row-major A in place when n ≤ <see cref="NarrowN"/>. Tuning aid.</summary>
    internal static int DirectOperands = EnvInt("VIT_GEMM_DIRECT", 5, 0, 7);

    /// <summary>Widest n for which a row-major A is read in place (bit 4 of <see cref="DirectOperands"/>): each A element
    /// serves only n/32 micro-kernel calls there, so packing it is a visible share (MNIST-ViT fc2 forward +7 %). Up to
    /// 4× wider when A's rows are short (lda ≤ 256: the 12 row streams then fall in different L1 sets; MNIST-ViT qkv
    /// and fc1 forward +2-4 %); with long rows (ViT-B fc2, lda 3072) in-place A measured 6 % slower at n = 768.</summary>
    internal static int NarrowN = EnvInt("VIT_GEMM_NARROW_N", 256, 0, 1 << 16);
    /// <summary>When both a narrow row-major A and a row-major B could be read in place: 1 (default) reads A in place
    /// and packs B (+3-4 % on n = 128), 0 keeps B in place and packs A. Tuning aid.</summary>
    internal static int NarrowMode = EnvInt("VIT_GEMM_NARROW_MODE", 1, 0, 1);

    /// <summary>Let epilogues prefetch the rows of their side matrix for the tile being computed (see
    /// <see cref="IGemmEpilogue.Prefetch"/>). Tuning aid.</summary>
    internal static bool EpiloguePrefetch = EnvInt("VIT_GEMM_EPILOGUE_PREFETCH", 1, 0, 1) == 1;

    /// <summary>Long-k products with a small C run as two half-k products (<see cref="RunSplitK"/>). Tuning aid.</summary>
    internal static bool SplitK = EnvInt("VIT_GEMM_SPLITK", 1, 0, 1) == 1;

    /// <summary>Off: one column region per worker over pre-packed weights, each packing A per k block. Tuning aid.</summary>
    internal static bool GuidedColumns = EnvInt("VIT_GEMM_GUIDED_COLUMNS", 1, 0, 1) == 1;
    /// <summary>Most column regions per worker over pre-packed weights (see Run). Tuning aid.</summary>
    internal static int ColumnPerMax = 4;

    /// <summary>Off: <see cref="LinearBackward{TEpilogue}"/> runs its two products one after the other. Tuning aid.</summary>
    internal static bool PairedBackward = EnvInt("VIT_GEMM_PAIRED", 1, 0, 1) == 1;

    /// <summary>Problems with fewer multiply-adds than this run on one thread.</summary>
    private const long ParallelThreshold = 1 << 20;

    /// <summary>Problems this small (or with m, n or k equal to 1) skip packing.</summary>
    private const long DirectThreshold = 1 << 15;

    private static int EnvInt(string name, int dflt, int min, int max)
    {
        var v = Environment.GetEnvironmentVariable(name);
        return int.TryParse(v, out var x) ? Math.Clamp(x, min, max) : dflt;
    }

    public static void Sgemm(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc)
        => Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default, default(NoEpilogue));

    /// <summary>
    /// C = epilogue(alpha·op(A)·op(B) + beta·C + bias), where bias (length n, or empty for none) is added to every
    /// row (a Linear layer's bias) and <paramref name="epilogue"/> is applied to each finished C row segment while
    /// it is hot in cache (see <see cref="IGemmEpilogue"/>).
    /// </summary>
    public static void Sgemm<TEpilogue>(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc,
        ReadOnlySpan<float> bias, TEpilogue epilogue) where TEpilogue : struct, IGemmEpilogue
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, bias.Length);
        Unpacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, epilogue, default);
    }

    /// <summary>
    /// C = alpha·op(A)·op(B) + beta·C and, in the same pass, rowSums[i] = Σ_p op(A)[i, p] (overwritten), summed from
    /// the packed A panels while they are in L1. For a Linear layer's backward, dW = dYᵀ·X with op(A) = dYᵀ makes
    /// rowSums the bias gradient, saving a separate pass over dY.
    /// </summary>
    public static void SgemmWithRowSums(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc, Span<float> rowSums)
    {
        Validate(transA, transB, m, n, k, a.Length, lda, b.Length, ldb, c.Length, ldc, 0);
        if (rowSums.Length != m) throw new ArgumentException($"Gemm.SgemmWithRowSums: rowSums has {rowSums.Length} elements, expected m={m}");
        Unpacked(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, default, default(NoEpilogue), rowSums);
    }

    /// <summary>
    /// Both products of a Linear layer's backward in one parallel job: dW = dYᵀ·X (outF×inF, overwritten), with
    /// db = Σ_rows dY (overwritten) unless <paramref name="db"/> is empty, and dX = epilogue(dY·W) (rows×inF,
    /// overwritten), W being the layer's outF×inF weight. Run one after the other, each product splits statically (dW
    /// as two half-k products, dX as row blocks), so a core slowed by a neighbour leaves the other idle at both joins;
    /// here the two dW halves open the first two workers' shares and the dX row blocks fill every share, taken by
    /// whichever worker is free. The results equal the two separate calls' bit for bit, at any thread count.
    /// </summary>
    public static void LinearBackward<TEpilogue>(int rows, int outF, int inF, ReadOnlySpan<float> dy, int ldy,
        ReadOnlySpan<float> x, int ldx, ReadOnlySpan<float> w, Span<float> dw, Span<float> db, Span<float> dx, int lddx,
        TEpilogue epilogue) where TEpilogue : struct, IGemmEpilogue
    {
        Validate(true, false, outF, inF, rows, dy.Length, ldy, x.Length, ldx, dw.Length, inF, 0);
        Validate(false, false, rows, inF, outF, dy.Length, ldy, w.Length, inF, dx.Length, lddx, 0);
        if (!db.IsEmpty && db.Length != outF) throw new ArgumentException($"Gemm.LinearBackward: db has {db.Length} elements, expected outF={outF}");
        int threads = Workers.InsideJob ? 1 : Workers.ThreadCount;
        var shape = new Args { TransA = true, M = outF, N = inF, K = rows };
        if (!PairedBackward || threads == 1 || !TakesSplitK(in shape) || (long)rows * outF * inF < ParallelThreshold)
        {
            if (db.IsEmpty) Sgemm(true, false, outF, inF, rows, 1f, dy, ldy, x, ldx, 0f, dw, inF);
            else SgemmWithRowSums(true, false, outF, inF, rows, 1f, dy, ldy, x, ldx, 0f, dw, inF, db);
            Sgemm(false, false, rows, inF, outF, 1f, dy, ldy, w, inF, 0f, dx, lddx, default, epilogue);
            return;
        }
        fixed (float* pdy = dy, px = x, pw = w, pdw = dw, pdb = db, pdx = dx)
        {
            var gw = Product(true, outF, inF, rows, pdy, ldy, px, ldx, pdw, inF);
            gw.RowSums = db.IsEmpty ? null : pdb;
            var gx = Product(false, rows, inF, outF, pdy, ldy, pw, inF, pdx, lddx);
            ChooseDirect(ref gx);
            float[] part = RentShared((long)outF * inF + outF + 16, out int partStart);
            float[]? shared = null;
            try
            {
                float* p;
                fixed (float* pp = part) p = pp + partStart; // pinned (pinned object heap)
                Halves(in gw, p, out var w0, out var w1);
                // B packed once for every row block, and guided row blocks (shrinking toward the end of each worker's
                // share, see GuidedRow), as Run makes them.
                if (!gx.DirectB) shared = PackShared(ref gx, threads);
                int per = RowBlocksPer(rows, threads), blocks = threads * per, count = blocks + 2;
                Workers.For(count, new LinearBackwardJob<TEpilogue> { W0 = w0, W1 = w1, X = gx, Epi = epilogue, Second = count / threads, Blocks = blocks, Per = per });
                AddPart(in gw, p, in w1);
            }
            finally
            {
                ReturnShared(part);
                if (shared != null) ReturnShared(shared);
            }
        }
    }

    /// <summary>C = op(A)·B (B row-major, alpha 1, beta 0) at the current SIMD level.</summary>
    private static Args Product(bool transA, int m, int n, int k, float* a, int lda, float* b, int ldb, float* c, int ldc) =>
        new() { TransA = transA, M = m, N = n, K = k, Alpha = 1f, A = a, Lda = lda, B = b, Ldb = ldb, C = c, Ldc = ldc, Kc = KC, Level = Cpu.Level };

    /// <summary>Items of <see cref="LinearBackward{TEpilogue}"/>: 0 and <see cref="Second"/> (the first item of the second
    /// worker's share) are the dW halves, the rest dX's row blocks in order.</summary>
    private struct LinearBackwardJob<TEpi> : IParallelJob where TEpi : struct, IGemmEpilogue
    {
        public Args W0, W1, X;
        public TEpi Epi;
        public int Second, Blocks, Per;

        public void Execute(int index)
        {
            if (index == 0 || index == Second)
            {
                var g = index == 0 ? W0 : W1;
                var none = default(NoEpilogue);
                Run(ref g, ref none, 1);
                return;
            }
            int ti = index < Second ? index - 1 : index - 2;
            int i0 = GuidedRow(X.M, Blocks, Per, ti), i1 = GuidedRow(X.M, Blocks, Per, ti + 1);
            if (i0 < i1) ComputeRegion(in X, i0, i1, 0, X.N, ref Epi);
        }
    }

    /// <summary>The validated GEMM with an unpacked B; rowSums (empty for none) as in <see cref="SgemmWithRowSums"/>.</summary>
    private static void Unpacked<TEpilogue>(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, ReadOnlySpan<float> b, int ldb, float beta, Span<float> c, int ldc,
        ReadOnlySpan<float> bias, TEpilogue epilogue, Span<float> rowSums) where TEpilogue : struct, IGemmEpilogue
    {
        if (m == 0 || (n == 0 && rowSums.IsEmpty)) return;
        fixed (float* pa = a, pb = b, pc = c, pbias = bias, ps = rowSums)
        {
            var g = new Args
            {
                TransA = transA,
                TransB = transB,
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                B = pb,
                Ldb = ldb,
                C = pc,
                Ldc = ldc,
                Bias = bias.IsEmpty ? null : pbias,
                Kc = KC,
                Level = Cpu.Level,
            };
            // Row sums come from the packed A panels; with nothing packed (n or k zero) or alpha folded into the
            // panels, op(A) is summed directly after the product.
            bool fromPanels = !rowSums.IsEmpty && n > 0 && k > 0 && alpha == 1f;
            if (fromPanels) g.RowSums = ps;
            if (n > 0) Run(ref g, ref epilogue, Workers.InsideJob ? 1 : Workers.ThreadCount);
            if (!rowSums.IsEmpty && !fromPanels)
            {
                g.RowSums = ps;
                SumRows(in g);
            }
        }
    }

    /// <summary>
    /// Packs op(B) (k×n; B stored k×n with row stride ldb, or n×k when <paramref name="transB"/>, as nn.Linear
    /// stores its weight) once, for repeated use with the PackedB overloads of Sgemm.
    /// </summary>
    public static PackedB PackB(bool transB, int k, int n, ReadOnlySpan<float> b, int ldb)
    {
        if (k < 0 || n < 0) throw new ArgumentException($"Gemm.PackB: negative size k={k} n={n}");
        CheckOperand("B", transB, k, n, b.Length, ldb);
        var packed = new PackedB(k, n, PackedKC);
        if (k == 0 || n == 0) return packed;
        fixed (float* pb = b, dst = packed.Data)
        {
            PackAll(transB, pb, ldb, k, n, packed.KBlock, dst + packed.Start, packed.NPad, Cpu.Level != SimdLevel.Scalar,
                Workers.InsideJob ? 1 : Workers.ThreadCount);
        }
        return packed;
    }

    /// <summary>C = alpha·op(A)·B + beta·C with a pre-packed B (see <see cref="PackB"/>); op(A) is m×B.K.</summary>
    public static void Sgemm(bool transA, int m, float alpha, ReadOnlySpan<float> a, int lda, PackedB b, float beta, Span<float> c, int ldc)
        => Sgemm(transA, m, alpha, a, lda, b, beta, c, ldc, default, default(NoEpilogue));

    /// <summary>
    /// C = epilogue(alpha·op(A)·B + beta·C + bias) with a pre-packed B; bias and epilogue as in
    /// <see cref="Sgemm{TEpilogue}(bool, bool, int, int, int, float, ReadOnlySpan{float}, int, ReadOnlySpan{float}, int, float, Span{float}, int, ReadOnlySpan{float}, TEpilogue)"/>.
    /// </summary>
    public static void Sgemm<TEpilogue>(bool transA, int m, float alpha, ReadOnlySpan<float> a, int lda, PackedB b,
        float beta, Span<float> c, int ldc, ReadOnlySpan<float> bias, TEpilogue epilogue) where TEpilogue : struct, IGemmEpilogue
    {
        ArgumentNullException.ThrowIfNull(b);
        int n = b.N, k = b.K;
        Validate(transA, false, m, n, k, a.Length, lda, (long)k * n, n, c.Length, ldc, bias.Length);
        if (m == 0 || n == 0) return;
        fixed (float* pa = a, pc = c, pbias = bias, pb = b.Data)
        {
            var g = new Args
            {
                TransA = transA,
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                C = pc,
                Ldc = ldc,
                Bias = bias.IsEmpty ? null : pbias,
                PB = pb + b.Start,
                PBNPad = b.NPad,
                Kc = b.KBlock,
                Level = Cpu.Level,
            };
            Run(ref g, ref epilogue, Workers.InsideJob ? 1 : Workers.ThreadCount);
        }
    }

    /// <summary>Batched GEMM with constant strides (elements) between consecutive A, B and C matrices.</summary>
    /// <remarks>Small per-batch problems (attention heads) run one whole matrix per worker; large ones run one at a
    /// time, each split over the workers.</remarks>
    public static void SgemmStridedBatched(bool transA, bool transB, int m, int n, int k, float alpha,
        ReadOnlySpan<float> a, int lda, long strideA, ReadOnlySpan<float> b, int ldb, long strideB,
        float beta, Span<float> c, int ldc, long strideC, int batch)
    {
        if (batch < 0) throw new ArgumentException($"Gemm.SgemmStridedBatched: negative batch {batch}");
        if (batch == 0 || m == 0 || n == 0) return;
        if (strideA < 0 || strideB < 0 || strideC < 0)
            throw new ArgumentException($"Gemm.SgemmStridedBatched: negative stride (A {strideA}, B {strideB}, C {strideC})");
        long last = batch - 1;
        Validate(transA, transB, m, n, k, a.Length - last * strideA, lda, b.Length - last * strideB, ldb, c.Length - last * strideC, ldc, 0);
        fixed (float* pa = a, pb = b, pc = c)
        {
            var g = new Args
            {
                TransA = transA,
                TransB = transB,
                M = m,
                N = n,
                K = k,
                Alpha = alpha,
                Beta = beta,
                A = pa,
                Lda = lda,
                B = pb,
                Ldb = ldb,
                C = pc,
                Ldc = ldc,
                Kc = KC,
                Level = Cpu.Level,
            };
            int threads = Workers.InsideJob ? 1 : Workers.ThreadCount;
            long work = (long)m * n * k;
            bool acrossBatch = threads > 1 && batch > 1 &&
                (batch % threads == 0 || batch >= 4 * threads || work < 4 * ParallelThreshold);
            if (acrossBatch)
            {
                Workers.For(batch, new BatchJob { G = g, StrideA = strideA, StrideB = strideB, StrideC = strideC });
            }
            else
            {
                for (int i = 0; i < batch; i++)
                {
                    var gi = g;
                    gi.A += i * strideA;
                    gi.B += i * strideB;
                    gi.C += i * strideC;
                    var epi = default(NoEpilogue);
                    Run(ref gi, ref epi, threads);
                }
            }
        }
    }

    private struct BatchJob : IParallelJob
    {
        public Args G;
        public long StrideA, StrideB, StrideC;

        public void Execute(int index)
        {
            var g = G;
            g.A += index * StrideA;
            g.B += index * StrideB;
            g.C += index * StrideC;
            var epi = default(NoEpilogue);
            Run(ref g, ref epi, 1);
        }
    }

    /// <summary>Everything a GEMM call needs, as raw pointers so it can travel in a struct job.</summary>
    private struct Args
    {
        public bool TransA, TransB;
        public int M, N, K;
        public float Alpha, Beta;
        public float* A, B, C, Bias;
        public int Lda, Ldb, Ldc;
        public float* PB;   // packed B (pre-packed or shared); null = each region packs its own
        public int PBNPad;
        public long CacheA; // column regions: each worker packs all of A once (k block pc at pc·PAMPad) for this call id
        public int PAMPad;
        public int Kc;
        public SimdLevel Level;
        // Operands the Vector512 kernel reads where they lie: a row-major B (its rows are the kernel's 32-wide
        // steps) and a transposed A with alpha 1 (its rows hold the 12 values of a step). Packing them would cost
        // a pass over an operand that each element of is used only n (or m) times: the weight-gradient GEMMs with
        // k = batch·tokens are dominated by it.
        public bool DirectA, DirectB, DirectARows;
        public float* RowSums; // Σ_p op(A)[i, p] wanted (SgemmWithRowSums); needs packed A with alpha 1
        public bool Half;      // one half of a split-k product (not split again)
    }

    private static void Run<TEpi>(ref Args g, ref TEpi epi, int threads) where TEpi : struct, IGemmEpilogue
    {
        if (g.K == 0)
        {
            ScaleOnly(ref g, ref epi);
            return;
        }
        long work = (long)g.M * g.N * g.K;
        if (g.PB == null && (g.M == 1 || g.N == 1 || g.K == 1 || work <= DirectThreshold))
        {
            Direct(ref g, ref epi);
            if (g.RowSums != null) SumRows(in g);
            return;
        }
        if (typeof(TEpi) == typeof(NoEpilogue) && TakesSplitK(in g))
        {
            RunSplitK(ref g);
            return;
        }
        ChooseDirect(ref g);
        if (work < ParallelThreshold) threads = 1;
        if (threads == 1)
        {
            ComputeRegion(in g, 0, g.M, 0, g.N, ref epi);
            return;
        }
        Plan(in g, threads, out int tm, out int tn, out bool shareB);
        int per = 1, colPer = 1;
        // Column regions over pre-packed weights (few rows, e.g. batch 1): every region needs all of A, so each worker
        // packs all of A once into its own scratch and keeps it for its later regions; each worker's columns are cut
        // into regions shrinking toward its end (as GuidedRow does for rows), so a worker slowed by a neighbour has its
        // last regions taken by the other.
        int mPadA = (g.M + MR - 1) / MR * MR;
        bool columnsGuided = GuidedColumns && tm == 1 && tn > 1 && g.PB != null && g.RowSums == null && !g.DirectA && !g.DirectARows
            && (long)mPadA * g.K <= 1 << 22;
        if (columnsGuided)
        {
            colPer = Math.Clamp((g.N + NR - 1) / NR / tn / 6, 1, ColumnPerMax);
            g.CacheA = Interlocked.Increment(ref callIds);
            g.PAMPad = mPadA;
        }
        if (tn == 1 && tm > 1 && (g.PB != null || shareB))
        {
            // Row blocks cost little extra with a shared B (each A row is still packed once, B is re-streamed per
            // block), and more blocks than threads let an idle participant take a late one's block. Each participant's
            // blocks shrink toward the end of its range (GuidedRow), so what is left to take is small: a core slowed
            // by a neighbour on a shared VM then costs a few percent at the join, not the whole difference (the idle
            // time at joins in the ViT-Tiny training step halved; in-process A/B 1.5-5 % faster). Up to 8 blocks of
            // at least ~96 rows each: ViT-Tiny inference at batch 8 (788 rows a thread) ran 1-5 % faster with 8
            // blocks than with 2 (≥ 384 rows), 0.4 % with 4; ViT-B/16 at batch 8 was unchanged.
            per = RowBlocksPer(g.M, tm);
            tm *= per;
        }
        float[]? shared = null;
        try
        {
            if (shareB) shared = PackShared(ref g, threads);
            Workers.For(tm * tn * colPer, new RegionJob<TEpi> { G = g, Tm = tm, Tn = tn * colPer, Epi = epi, Per = per, ColumnPer = colPer });
        }
        finally
        {
            if (shared != null) ReturnShared(shared);
        }
    }

    /// <summary>Row blocks per participant for a tall product over a shared B: up to 8, of at least ~96 rows (see Run).</summary>
    private static int RowBlocksPer(int m, int participants) => Math.Clamp(m / participants / 96, 1, 8);

    /// <summary>Packs op(B) once into a rented shared buffer for every region (g.PB, g.PBNPad); returns the buffer.</summary>
    private static float[] PackShared(ref Args g, int threads)
    {
        int nPad = (g.N + NR - 1) / NR * NR;
        var shared = RentShared((long)g.K * nPad, out int start);
        fixed (float* sp = shared)
        {
            // The array is pinned (pinned object heap); the pointer stays valid after the fixed block.
            g.PB = sp + start;
        }
        g.PBNPad = nPad;
        PackAll(g.TransB, g.B, g.Ldb, g.K, g.N, g.Kc, g.PB, nPad, g.Level != SimdLevel.Scalar, threads);
        return shared;
    }

    /// <summary>Which operands the micro-kernels read in place (see <see cref="Args.DirectA"/>).</summary>
    private static void ChooseDirect(ref Args g)
    {
        bool v512 = g.Level == SimdLevel.Vector512;
        g.DirectB = v512 && g.PB == null && !g.TransB && (DirectOperands & 1) != 0;
        g.DirectA = v512 && g.TransA && g.Alpha == 1f && g.RowSums == null && (DirectOperands & 2) != 0;
        // Not with pre-packed weights: their deeper k blocks keep the packed A panel hot longer, and reading A in place
        // there measured 4 % slower (ViT-Tiny inference at batch 8).
        g.DirectARows = v512 && !g.TransA && g.Alpha == 1f && g.RowSums == null && g.PB == null && (DirectOperands & 4) != 0
            && (g.N <= NarrowN || (g.N <= 4 * NarrowN && g.Lda <= 256));
        if (g.DirectARows && g.DirectB) { if (NarrowMode == 0) g.DirectARows = false; else g.DirectB = false; }
    }

    /// <summary>
    /// A long-k product with a small C (the weight-gradient GEMMs dW = dYᵀ·X, k = batch·tokens) as two half-k
    /// products, one per worker, each on its own part of A and B, then added: C = (beta·C + A₀·B₀) + A₁·B₁. Two
    /// threads splitting C's rows instead both stream all of B and ran 3-22 % slower (ViT-Tiny and MNIST-ViT dW
    /// shapes, alternating runs). The split depends only on the shape, never on the thread count, so results stay
    /// bit-identical across thread counts (one thread runs the halves in turn).
    /// </summary>
    private static void RunSplitK(ref Args g)
    {
        float[] part = RentShared((long)g.M * g.N + g.M + 16, out int start);
        try
        {
            float* p;
            fixed (float* pp = part) p = pp + start; // pinned (pinned object heap)
            Halves(in g, p, out var g0, out var g1);
            // Workers.For runs the two halves in turn on one thread (or inside another job), in parallel otherwise.
            Workers.For(2, new SplitKJob { G0 = g0, G1 = g1 });
            AddPart(in g, p, in g1);
        }
        finally
        {
            ReturnShared(part);
        }
    }

    /// <summary>The two half-k products of <see cref="RunSplitK"/>: g0 into C, g1 into the partial p (M×N, then M row sums).</summary>
    private static void Halves(in Args g, float* p, out Args g0, out Args g1)
    {
        int h = g.K / 2;
        g0 = g;
        g0.Half = true;
        g0.K = h;
        g1 = g0;
        g1.K = g.K - h;
        g1.A += g.TransA ? (long)h * g.Lda : h;
        g1.B += g.TransB ? h : (long)h * g.Ldb;
        g1.Beta = 0f;
        g1.C = p;
        g1.Ldc = g.N;
        if (g.RowSums != null) g1.RowSums = p + (long)g.M * g.N;
    }

    /// <summary>C += the second half's partial (and its row sums).</summary>
    private static void AddPart(in Args g, float* p, in Args g1)
    {
        long mn = (long)g.M * g.N;
        var add = new AddPartJob { C = g.C, Ldc = g.Ldc, P = p, M = g.M, N = g.N, Sums = g.RowSums, PartSums = g1.RowSums, Level = g.Level };
        if (mn >= 1 << 16) Workers.For(2, add);
        else { add.Execute(0); add.Execute(1); }
    }

    /// <summary>Whether <see cref="Run{TEpi}"/> would take <paramref name="g"/> as two half-k products.</summary>
    private static bool TakesSplitK(in Args g) =>
        SplitK && !g.Half && g.Bias == null && g.PB == null && g.K >= 2048 && g.K >= 4L * Math.Max(g.M, g.N)
        && (long)g.M * g.N * g.K > DirectThreshold && g.M > 1 && g.N > 1;

    private struct SplitKJob : IParallelJob
    {
        public Args G0, G1;

        public void Execute(int index)
        {
            var g = index == 0 ? G0 : G1;
            var epi = default(NoEpilogue);
            Run(ref g, ref epi, 1);
        }
    }

    /// <summary>C += P (and row sums += their second half), rows split in two.</summary>
    private struct AddPartJob : IParallelJob
    {
        public float* C, P, Sums, PartSums;
        public int Ldc, M, N;
        public SimdLevel Level;

        public readonly void Execute(int index)
        {
            int r0 = index == 0 ? 0 : M / 2, r1 = index == 0 ? M / 2 : M;
            for (int r = r0; r < r1; r++) AddInPlace(C + (long)r * Ldc, P + (long)r * N, N, Level);
            if (Sums != null) for (int r = r0; r < r1; r++) Sums[r] += PartSums[r];
        }
    }

    /// <summary>Chooses a tm×tn grid of C regions (tm·tn = threads) minimising the slowest region's estimated time
    /// (padded FMAs + packing, in multiply-add units), and whether to pack B once for all regions.</summary>
    private static void Plan(in Args g, int threads, out int tm, out int tn, out bool shareB)
    {
        int panels = (g.N + NR - 1) / NR;
        double best = double.MaxValue;
        tm = threads; tn = 1; shareB = false;
        for (int rm = 1; rm <= threads; rm++)
        {
            if (threads % rm != 0) continue;
            int rn = threads / rm;
            if (rm > (g.M + 3) / 4 || rn > panels) continue;
            int rows = (g.M + rm - 1) / rm;
            int cols = (panels + rn - 1) / rn * NR;
            int rem = rows % MR;
            double effRows = rows / MR * MR + (rem == 0 ? 0 : Math.Max(rem, 4) + 2);
            double compute = effRows * cols * g.K;
            for (int s = 0; s < 2; s++)
            {
                bool share = s == 1;
                if (share && (g.PB != null || g.DirectB || rm == 1)) continue;
                double bRepacks = Math.Ceiling(rows / (double)MC);
                double packA = g.DirectA || g.DirectARows ? 0 : (double)rows * g.K * 16;
                double packB = g.PB != null || g.DirectB ? 0 : share ? (double)g.K * g.N / threads * 8 + 300_000 : (double)g.K * cols * 8 * bRepacks;
                double cost = compute + packA + packB;
                if (PlanBias == 1 && rn > 1) cost *= 4; // tuning aid: prefer row splits
                if (PlanBias == 2 && rm > 1) cost *= 4; // tuning aid: prefer column splits
                if (cost < best)
                {
                    best = cost;
                    tm = rm; tn = rn; shareB = share;
                }
            }
        }
    }

    /// <summary>First row of region r of tm: the rows are split evenly into tm / per blocks (one per participant, matching
    /// the Workers partition), and block b's per regions get rows in proportion per, per − 1, …, 1.</summary>
    internal static int GuidedRow(int m, int tm, int per, int r) => Guided(m, tm, per, r, MR);

    /// <summary><see cref="GuidedRow"/> for any extent: start of part r of parts, boundaries inside a block rounded down
    /// to a multiple of unit.</summary>
    private static int Guided(int m, int parts, int per, int r, int unit)
    {
        int blocks = parts / per, blk = r / per, k = r % per;
        if (blk >= blocks) return m;
        long b0 = (long)m * blk / blocks, b1 = (long)m * (blk + 1) / blocks;
        if (k == 0) return (int)b0;
        long weight = (long)k * per - (long)k * (k - 1) / 2, total = (long)per * (per + 1) / 2;
        return (int)Math.Clamp((b0 + (b1 - b0) * weight / total) / unit * unit, b0, b1);
    }

    private struct RegionJob<TEpi> : IParallelJob where TEpi : struct, IGemmEpilogue
    {
        public Args G;
        public int Tm, Tn, Per, ColumnPer;
        public TEpi Epi;

        public void Execute(int index)
        {
            int ti = index / Tn, tj = index % Tn;
            int i0 = GuidedRow(G.M, Tm, Per, ti), i1 = GuidedRow(G.M, Tm, Per, ti + 1);
            int panels = (G.N + NR - 1) / NR;
            int j0 = Guided(panels, Tn, ColumnPer, tj, 1) * NR, j1 = Math.Min(G.N, Guided(panels, Tn, ColumnPer, tj + 1, 1) * NR);
            if (i0 >= i1 || j0 >= j1) return;
            ComputeRegion(in G, i0, i1, j0, j1, ref Epi);
        }
    }

    /// <summary>
    /// The Goto loops over C[i0..i1, j0..j1) on the calling thread. For each kc slice, an mc×kc block of A is
    /// packed once and then swept against kc×nc blocks of B (packed here, or taken from a PackedB); inside, each
    /// 12-row A micro-panel stays in L1 while the 32-column B micro-panels of the block stream from L2.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ComputeRegion<TEpi>(in Args g, int i0, int i1, int j0, int j1, ref TEpi epi) where TEpi : struct, IGemmEpilogue
    {
        // Block sizes are read once: tests may retune them while other threads run GEMMs.
        int MC = Gemm.MC, NC = Gemm.NC;
        // A deeper k block (pre-packed weights use 768) gets proportionally narrower B blocks, so kc×nc stays
        // about 384 KiB of L2 either way.
        int kcMax = Math.Min(g.Kc, g.K);
        if (kcMax > KC) NC = Math.Max(NR, NC * KC / kcMax / NR * NR);
        bool prepacked = g.PB != null;
        // Sized for the whole product, not this region: a thread may take a slightly larger region of another
        // participant later (regions differ by a few rows), and growing the buffers then would allocate in a
        // steady-state step.
        int height = (g.M + MR - 1) / MR * MR, width = (g.N + NR - 1) / NR * NR;
        var s = Scratch.Get(g.CacheA != 0 ? g.PAMPad * g.K + 16 : Math.Min(MC, height) * g.Kc + 16, prepacked ? 0 : g.Kc * Math.Min(NC, width) + 16);
        float* paLocal = s.A, pbLocal = s.B, t = s.T;
        bool aPacked = g.CacheA != 0 && s.PackedFor == g.CacheA;
        bool simd = g.Level != SimdLevel.Scalar;
        // The bias is added by the micro-kernels as they store the last k block; only an epilogue needs a pass.
        bool finish = typeof(TEpi) != typeof(NoEpilogue);
        bool bInner = LoopOrder == 0;
        bool directA = g.DirectA || g.DirectARows, directB = g.DirectB && !prepacked;
        int aStep = g.DirectA ? g.Lda : MR, aRow = g.DirectARows ? g.Lda : 0;
        for (int ic = i0; ic < i1; ic += MC)
        {
            int mc = Math.Min(MC, i1 - ic);
            for (int pc = 0; pc < g.K; pc += g.Kc)
            {
                int kc = Math.Min(g.Kc, g.K - pc);
                float beta = pc == 0 ? g.Beta : 1f;
                bool last = pc + kc >= g.K;
                float* pa = g.CacheA != 0 ? paLocal + (long)pc * g.PAMPad + (long)ic * kc : paLocal;
                if (!directA && !aPacked)
                {
                    PackA(g.TransA, g.A, g.Lda, ic, mc, pc, kc, g.Alpha, pa, simd);
                    // Row sums come from the region holding column 0: every row is in exactly one such region.
                    if (g.RowSums != null && j0 == 0) AddPanelSums(pa, mc, kc, g.RowSums + ic, pc == 0);
                }
                for (int jc = j0; jc < j1; jc += NC)
                {
                    int nc = Math.Min(NC, j1 - jc);
                    int full = directB ? nc / NR * NR : 0; // panels [0, full) are read in place
                    float* bBlock;
                    if (prepacked)
                    {
                        bBlock = g.PB + (long)pc * g.PBNPad + (long)jc * kc;
                    }
                    else if (directB)
                    {
                        // Only a ragged last panel is packed (at the start of the scratch, addressed as panel `full`).
                        if (full < nc) PackB(g.TransB, g.B, g.Ldb, pc, kc, jc + full, nc - full, pbLocal, simd);
                        bBlock = pbLocal - (long)full * kc;
                    }
                    else
                    {
                        PackB(g.TransB, g.B, g.Ldb, pc, kc, jc, nc, pbLocal, simd);
                        bBlock = pbLocal;
                    }
                    float* bDirect = directB ? g.B + (long)pc * g.Ldb + jc : null;
                    if (bInner)
                    {
                        for (int ir = 0; ir < mc; ir += MR)
                        {
                            int rows = Math.Min(MR, mc - ir);
                            float* ap = APanel(in g, pa, ic + ir, ir, pc, kc);
                            float* crow = g.C + (long)(ic + ir) * g.Ldc + jc;
                            for (int jr = 0; jr < nc; jr += NR)
                            {
                                int cols = Math.Min(NR, nc - jr);
                                float* bias = last && g.Bias != null ? g.Bias + jc + jr : null;
                                if (last && finish && EpiloguePrefetch) epi.Prefetch(ic + ir, rows, jc + jr, cols);
                                if (jr < full) Tile(g.Level, ap, aStep, aRow, bDirect + jr, g.Ldb, kc, crow + jr, g.Ldc, rows, cols, beta, t, bias);
                                else Tile(g.Level, ap, aStep, aRow, bBlock + (long)jr * kc, NR, kc, crow + jr, g.Ldc, rows, cols, beta, t, bias);
                            }
                            // The epilogue once per row of the whole block (still in L1/L2): one call per row
                            // instead of one per 32-column tile, so per-call overhead stays small.
                            if (last && finish) Finish(in g, ic + ir, rows, jc, nc, ref epi, bias: false);
                        }
                    }
                    else
                    {
                        for (int jr = 0; jr < nc; jr += NR)
                        {
                            int cols = Math.Min(NR, nc - jr);
                            bool inPlace = jr < full;
                            float* bp = inPlace ? bDirect + jr : bBlock + (long)jr * kc;
                            for (int ir = 0; ir < mc; ir += MR)
                            {
                                int rows = Math.Min(MR, mc - ir);
                                float* cp = g.C + (long)(ic + ir) * g.Ldc + jc + jr;
                                float* ap = APanel(in g, pa, ic + ir, ir, pc, kc);
                                float* bias = last && g.Bias != null ? g.Bias + jc + jr : null;
                                Tile(g.Level, ap, aStep, aRow, bp, inPlace ? g.Ldb : NR, kc, cp, g.Ldc, rows, cols, beta, t, bias);
                                if (last && finish) Finish(in g, ic + ir, rows, jc + jr, cols, ref epi, bias: false);
                            }
                        }
                    }
                }
            }
        }
        if (g.CacheA != 0) s.PackedFor = g.CacheA;
    }

    /// <summary>Where the micro-kernel reads the A rows starting at row i (ir within the packed block) for the k block
    /// at pc: in place for a transposed or row-major A read directly, else the packed micro-panel.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* APanel(in Args g, float* pa, int i, int ir, int pc, int kc) =>
        g.DirectA ? g.A + (long)pc * g.Lda + i : g.DirectARows ? g.A + (long)i * g.Lda + pc : pa + (long)ir * kc;

    /// <summary>sums[i] (=, or += when not first) Σ_p of row i of the packed A block (mc rows, kc steps).</summary>
    private static void AddPanelSums(float* pa, int mc, int kc, float* sums, bool first)
    {
        float* t = stackalloc float[MR];
        for (int ir = 0; ir < mc; ir += MR)
        {
            float* panel = pa + (long)ir * kc;
            var s0 = Vector128<float>.Zero;
            var s1 = s0;
            var s2 = s0;
            for (int p = 0; p < kc; p++, panel += MR)
            {
                s0 += Vector128.Load(panel);
                s1 += Vector128.Load(panel + 4);
                s2 += Vector128.Load(panel + 8);
            }
            s0.Store(t);
            s1.Store(t + 4);
            s2.Store(t + 8);
            int rows = Math.Min(MR, mc - ir);
            for (int r = 0; r < rows; r++) sums[ir + r] = first ? t[r] : sums[ir + r] + t[r];
        }
    }

    /// <summary>Row sums of op(A) for the unpacked small-problem path.</summary>
    private static void SumRows(in Args g)
    {
        for (int i = 0; i < g.M; i++)
        {
            float sum = 0f;
            for (int p = 0; p < g.K; p++) sum += g.TransA ? g.A[(long)p * g.Lda + i] : g.A[(long)i * g.Lda + p];
            g.RowSums[i] = sum;
        }
    }

    /// <summary>Adds the bias (unless the micro-kernels already did) and runs the epilogue on rows [row0, row0+rows) ×
    /// [col0, col0+cols) of C.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Finish<TEpi>(in Args g, int row0, int rows, int col0, int cols, ref TEpi epi, bool bias = true) where TEpi : struct, IGemmEpilogue
    {
        for (int r = 0; r < rows; r++)
        {
            float* seg = g.C + (long)(row0 + r) * g.Ldc + col0;
            if (bias && g.Bias != null) AddInPlace(seg, g.Bias + col0, cols, g.Level);
            if (typeof(TEpi) != typeof(NoEpilogue)) epi.Apply(row0 + r, col0, new Span<float>(seg, cols));
        }
    }

    /// <summary>k = 0: C = beta·C (beta 0 writes zeros), then bias and epilogue.</summary>
    private static void ScaleOnly<TEpi>(ref Args g, ref TEpi epi) where TEpi : struct, IGemmEpilogue
    {
        for (int i = 0; i < g.M; i++)
        {
            float* cr = g.C + (long)i * g.Ldc;
            for (int j = 0; j < g.N; j++) cr[j] = g.Beta == 0f ? 0f : g.Beta * cr[j];
        }
        Finish(in g, 0, g.M, 0, g.N, ref epi);
    }

    /// <summary>Packs all of op(B) into the PackedB layout, split over the workers by (k block, panel group).</summary>
    private static void PackAll(bool transB, float* b, int ldb, int k, int n, int kc, float* dst, int nPad, bool simd, int threads)
    {
        var job = new PackJob { TransB = transB, B = b, Ldb = ldb, K = k, N = n, Kc = kc, Dst = dst, NPad = nPad, Simd = simd };
        int count = job.Count;
        if (threads > 1 && (long)k * n >= 1 << 16) Workers.For(count, job);
        else for (int i = 0; i < count; i++) job.Execute(i);
    }

    private struct PackJob : IParallelJob
    {
        private const int PanelsPerItem = 8;
        public bool TransB, Simd;
        public float* B, Dst;
        public int Ldb, K, N, Kc, NPad;

        public readonly int Groups => (N + PanelsPerItem * NR - 1) / (PanelsPerItem * NR);
        public readonly int Count => (K + Kc - 1) / Kc * Groups;

        public readonly void Execute(int index)
        {
            int kb = index / Groups, grp = index % Groups;
            int pc = kb * Kc, kc = Math.Min(Kc, K - pc);
            int j0 = grp * PanelsPerItem * NR, nc = Math.Min(PanelsPerItem * NR, N - j0);
            PackB(TransB, B, Ldb, pc, kc, j0, nc, Dst + (long)pc * NPad + (long)j0 * kc, Simd);
        }
    }

    private static void Validate(bool transA, bool transB, int m, int n, int k, long aLen, int lda, long bLen, int ldb, long cLen, int ldc, int biasLen)
    {
        if (m < 0 || n < 0 || k < 0) throw new ArgumentException($"Gemm.Sgemm: negative size m={m} n={n} k={k}");
        CheckOperand("A", transA, m, k, aLen, lda);
        CheckOperand("B", transB, k, n, bLen, ldb);
        CheckOperand("C", false, m, n, cLen, ldc);
        if (biasLen != 0 && biasLen != n) throw new ArgumentException($"Gemm.Sgemm: bias has {biasLen} elements, expected n={n}");
    }

    /// <summary>op(X) is rows×cols; X is stored rows×cols (or cols×rows when trans) with row stride ld.</summary>
    private static void CheckOperand(string name, bool trans, int rows, int cols, long length, int ld)
    {
        int storedRows = trans ? cols : rows, storedCols = trans ? rows : cols;
        if (storedRows == 0 || storedCols == 0) return;
        if (ld < storedCols)
            throw new ArgumentException($"Gemm.Sgemm: ld{name.ToLowerInvariant()}={ld} is smaller than the {storedCols} columns of {name} ({storedRows}×{storedCols}{(trans ? ", transposed" : "")})");
        long need = (long)(storedRows - 1) * ld + storedCols;
        if (length < need)
            throw new ArgumentException($"Gemm.Sgemm: {name} has {length} elements, {storedRows}×{storedCols} with ld={ld} needs {need}");
    }

    /// <summary>A pinned array with a 64-byte aligned start index (pinned: the GC never moves it).</summary>
    internal static (float[] Data, int Start) AllocAligned(long floats)
    {
        if (floats + 16 > Array.MaxLength) throw new ArgumentException($"Gemm: buffer of {floats} floats is too large");
        var data = GC.AllocateUninitializedArray<float>((int)floats + 16, pinned: true);
        fixed (float* p = data)
        {
            int misalign = (int)(((nuint)p & 63) / sizeof(float));
            return (data, misalign == 0 ? 0 : 16 - misalign);
        }
    }

    // Shared buffers (a B packed once for all regions, a split-k partial) are cached for the next call; two slots, since
    // the Linear backward holds both at once.
    private static readonly float[]?[] sharedCache = new float[]?[2];
    private static long callIds;

    private static float[] RentShared(long floats, out int start)
    {
        float[]? arr = null;
        for (int i = 0; i < sharedCache.Length && arr == null; i++)
        {
            var c = Volatile.Read(ref sharedCache[i]);
            if (c != null && c.Length >= floats + 16 && Interlocked.CompareExchange(ref sharedCache[i], null, c) == c) arr = c;
        }
        if (arr == null) (arr, _) = AllocAligned(floats);
        fixed (float* p = arr)
        {
            int misalign = (int)(((nuint)p & 63) / sizeof(float));
            start = misalign == 0 ? 0 : 16 - misalign;
        }
        return arr;
    }

    /// <summary>Puts an array back into an empty slot, else in place of a smaller one.</summary>
    private static void ReturnShared(float[] arr)
    {
        for (int i = 0; i < sharedCache.Length; i++)
            if (Interlocked.CompareExchange(ref sharedCache[i], arr, null) == null) return;
        for (int i = 0; i < sharedCache.Length; i++)
        {
            var old = Volatile.Read(ref sharedCache[i]);
            if (old != null && old.Length < arr.Length && Interlocked.CompareExchange(ref sharedCache[i], arr, old) == old) return;
        }
    }

    /// <summary>Per-thread packing buffers; grow on demand, reused by every later call on that thread.</summary>
    private sealed class Scratch
    {
        [ThreadStatic] private static Scratch? current;
        private float[] a = [], b = [], t = [];
        private int aStart, bStart, tStart;
        private float[] d = [];

        public float* A, B, T;
        public long PackedFor; // the call id (Args.CacheA) whose whole A is packed in A

        public static Scratch Get(int aFloats, int bFloats)
        {
            var s = current ??= new Scratch();
            if (s.a.Length < aFloats + 16) { (s.a, s.aStart) = AllocAligned(aFloats); s.A = Pin(s.a, s.aStart); }
            if (s.b.Length < bFloats + 16) { (s.b, s.bStart) = AllocAligned(bFloats); s.B = Pin(s.b, s.bStart); }
            if (s.t.Length == 0) { (s.t, s.tStart) = AllocAligned(MR * NR); s.T = Pin(s.t, s.tStart); }
            return s;
        }

        /// <summary>A plain per-thread buffer for the direct (unpacked) path.</summary>
        public static float* Direct(int floats)
        {
            var s = current ??= new Scratch();
            if (s.d.Length < floats) s.d = GC.AllocateUninitializedArray<float>(Math.Max(floats, 256), pinned: true);
            return Pin(s.d, 0);
        }

        private static float* Pin(float[] arr, int start)
        {
            fixed (float* p = arr) return p + start; // pinned object heap: the address is stable
        }
    }
}
