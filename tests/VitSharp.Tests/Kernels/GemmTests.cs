using VitSharp.Kernels;

namespace VitSharp.Tests.Kernels;

public class GemmTests
{
    private static readonly int[] OddSizes = [1, 2, 3, 7, 13, 31, 33, 97, 130, 257];

    private static IEnumerable<SimdLevel> Levels()
    {
        yield return SimdLevel.Scalar;
        if (Cpu.Detected >= SimdLevel.Vector256) yield return SimdLevel.Vector256;
        if (Cpu.Detected >= SimdLevel.Vector512) yield return SimdLevel.Vector512;
    }

    private static float[] RandomArray(Random rng, int length, float nanFill = 0f)
    {
        var x = new float[length];
        for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        if (float.IsNaN(nanFill)) Array.Fill(x, float.NaN);
        return x;
    }

    /// <summary>Naive GEMM in double; also returns per-element magnitude bounds for the tolerance.</summary>
    private static (double[] Value, double[] Scale) Reference(bool ta, bool tb, int m, int n, int k, float alpha,
        float[] a, int lda, float[] b, int ldb, float beta, float[] c, int ldc, float[]? bias = null)
    {
        var v = new double[m * n];
        var s = new double[m * n];
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double acc = 0, mag = 0;
                for (int p = 0; p < k; p++)
                {
                    double av = ta ? a[p * lda + i] : a[i * lda + p];
                    double bv = tb ? b[j * ldb + p] : b[p * ldb + j];
                    acc += av * bv;
                    mag += Math.Abs(av * bv);
                }
                double cv = beta == 0 ? 0 : beta * (double)c[i * ldc + j];
                double bi = bias == null ? 0 : bias[j];
                v[i * n + j] = alpha * acc + cv + bi;
                s[i * n + j] = Math.Abs(alpha) * mag + Math.Abs(cv) + Math.Abs(bi);
            }
        }
        return (v, s);
    }

    private static void AssertClose((double[] Value, double[] Scale) expected, float[] c, int m, int n, int ldc, int k, string what)
    {
        double tol = 2e-7 * (8 + Math.Sqrt(k) * 4);
        for (int i = 0; i < m; i++)
        {
            for (int j = 0; j < n; j++)
            {
                double e = expected.Value[i * n + j], got = c[i * ldc + j];
                double bound = tol * expected.Scale[i * n + j] + 1e-6;
                if (!(Math.Abs(e - got) <= bound))
                    Assert.Fail($"{what}: C[{i},{j}] = {got}, expected {e} (|diff| {Math.Abs(e - got):g3} > {bound:g3})");
            }
        }
    }

    /// <summary>Runs one randomized comparison; padding makes lda/ldb/ldc larger than a row (strided submatrices).</summary>
    private static void Check(Random rng, bool ta, bool tb, int m, int n, int k, float alpha, float beta, int pad, string tag)
    {
        int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
        int lda = aCols + pad, ldb = bCols + pad, ldc = n + pad;
        var a = RandomArray(rng, Math.Max(1, aRows * lda));
        var b = RandomArray(rng, Math.Max(1, bRows * ldb));
        var c = RandomArray(rng, m * ldc, beta == 0 ? float.NaN : 0f);
        var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        var cPad = (float[])c.Clone();
        Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        AssertClose(expected, c, m, n, ldc, k, $"{tag} ta={ta} tb={tb} m={m} n={n} k={k} alpha={alpha} beta={beta} pad={pad}");
        // The padding between rows of C must be untouched.
        for (int i = 0; i < m; i++)
            for (int j = n; j < ldc; j++)
                Assert.Equal(BitConverter.SingleToInt32Bits(cPad[i * ldc + j]), BitConverter.SingleToInt32Bits(c[i * ldc + j]));
    }

    [Fact]
    public void OddShapes_AllTransposes_EachSimdLevel()
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(1 + (int)level);
                for (int trial = 0; trial < 24; trial++)
                {
                    int m = OddSizes[rng.Next(OddSizes.Length)], n = OddSizes[rng.Next(OddSizes.Length)], k = OddSizes[rng.Next(OddSizes.Length)];
                    foreach (var (ta, tb) in new[] { (false, false), (false, true), (true, false), (true, true) })
                        Check(rng, ta, tb, m, n, k, 1f, 0f, rng.Next(0, 4), level.ToString());
                }
            });
        }
    }

    [Fact]
    public void LargerThanOneBlock_EachSimdLevel()
    {
        // Crosses the KC (384), MC and panel boundaries with ragged edges everywhere.
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(7);
                Check(rng, false, false, 203, 97, 530, 1f, 0f, 3, level.ToString());
                Check(rng, true, true, 130, 161, 300, 0.5f, 1f, 1, level.ToString());
                Check(rng, false, true, 197, 64, 257, 1f, 0f, 0, level.ToString());
                Check(rng, true, false, 31, 257, 513, -1f, 0.25f, 2, level.ToString());
            });
        }
    }

    [Fact]
    public void SmallCacheBlocks_BothLoopOrders()
    {
        // MC/NC/loop order change only which tiles run when, never the arithmetic: force many blocks.
        int mc = Gemm.MC, nc = Gemm.NC, order = Gemm.LoopOrder;
        try
        {
            Gemm.MC = 24;
            Gemm.NC = 64;
            foreach (int o in new[] { 0, 1 })
            {
                Gemm.LoopOrder = o;
                var rng = new Random(23 + o);
                Check(rng, false, false, 101, 150, 300, 1f, 0f, 1, $"order {o}");
                Check(rng, true, true, 61, 97, 513, 0.5f, 1f, 2, $"order {o}");
            }
        }
        finally
        {
            Gemm.MC = mc;
            Gemm.NC = nc;
            Gemm.LoopOrder = order;
        }
    }

    [Fact]
    public void OperandsReadInPlace_MatchPackedBitForBit()
    {
        // Row-major B, transposed A and narrow row-major A may be read where they lie (Vector512 only); the FMA order per element is the
        // same as with packing, so every mode must agree exactly, and with the reference.
        if (Cpu.Detected < SimdLevel.Vector512) return;
        int direct = Gemm.DirectOperands, mc = Gemm.MC, nc = Gemm.NC, order = Gemm.LoopOrder, narrow = Gemm.NarrowMode;
        try
        {
            Cpu.With(SimdLevel.Vector512, () =>
            {
                var shapes = new[] { (true, false, 61, 97, 800), (false, false, 130, 161, 300), (true, false, 7, 33, 1000), (true, true, 40, 70, 90), (false, false, 197, 64, 513), (false, true, 53, 200, 401), (false, false, 70, 600, 100) };
                foreach (var (ta, tb, m, n, k) in shapes)
                {
                    foreach (float alpha in new[] { 1f, 0.5f })
                    {
                        float[]? first = null;
                        foreach (var (d, o, small, nm) in new[] { (0, 0, false, 1), (1, 0, false, 1), (2, 0, false, 1), (3, 0, false, 1), (3, 1, true, 1), (1, 0, true, 1),
                            (4, 0, false, 1), (5, 0, false, 0), (5, 0, false, 1), (7, 1, true, 1), (5, 0, true, 1) })
                        {
                            Gemm.DirectOperands = d;
                            Gemm.NarrowMode = nm;
                            Gemm.LoopOrder = o;
                            Gemm.MC = small ? 24 : mc;
                            Gemm.NC = small ? 64 : nc;
                            var rng = new Random(5);
                            int lda = (ta ? m : k) + 3, ldb = (tb ? k : n) + 1, ldc = n + 2;
                            var a = RandomArray(rng, (ta ? k : m) * lda);
                            var b = RandomArray(rng, (tb ? n : k) * ldb);
                            var c = RandomArray(rng, m * ldc);
                            var expected = Reference(ta, tb, m, n, k, alpha, a, lda, b, ldb, 1f, c, ldc);
                            Gemm.Sgemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, 1f, c, ldc);
                            string what = $"direct={d} narrow={nm} order={o} small={small} ta={ta} tb={tb} m={m} n={n} k={k} alpha={alpha}";
                            AssertClose(expected, c, m, n, ldc, k, what);
                            if (first == null) first = c;
                            else Assert.True(first.AsSpan().SequenceEqual(c), what + ": differs from the packed result");
                        }
                    }
                }
            });
        }
        finally
        {
            Gemm.DirectOperands = direct;
            Gemm.NarrowMode = narrow;
            Gemm.MC = mc;
            Gemm.NC = nc;
            Gemm.LoopOrder = order;
        }
    }

    [Fact]
    public void RowSums_OfOpA_AlongsideTheProduct()
    {
        // dW = dYᵀ·X with db = Σ_rows dY: the sums come from the packed panels, for every split and level.
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(11);
                foreach (var (ta, m, n, k, alpha) in new[] { (true, 128, 512, 700, 1f), (true, 37, 300, 1000, 1f), (false, 61, 33, 513, 1f), (true, 5, 7, 9, 1f), (true, 40, 50, 60, 0.5f) })
                {
                    int lda = (ta ? m : k) + 1, ldb = n, ldc = n;
                    var a = RandomArray(rng, (ta ? k : m) * lda);
                    var b = RandomArray(rng, k * ldb);
                    var c = RandomArray(rng, m * ldc, float.NaN);
                    var sums = RandomArray(rng, m, float.NaN);
                    var expected = Reference(ta, false, m, n, k, alpha, a, lda, b, ldb, 0f, c, ldc);
                    Gemm.SgemmWithRowSums(ta, false, m, n, k, alpha, a, lda, b, ldb, 0f, c, ldc, sums);
                    string what = $"{level} ta={ta} m={m} n={n} k={k} alpha={alpha}";
                    AssertClose(expected, c, m, n, ldc, k, what);
                    for (int i = 0; i < m; i++)
                    {
                        double e = 0, mag = 0;
                        for (int p = 0; p < k; p++) { double v = ta ? a[p * lda + i] : a[i * lda + p]; e += v; mag += Math.Abs(v); }
                        Assert.True(Math.Abs(e - sums[i]) <= 1e-6 * mag + 1e-6, $"{what}: sum[{i}] = {sums[i]}, expected {e}");
                    }
                }
            });
        }
        Assert.Throws<ArgumentException>(() => Gemm.SgemmWithRowSums(true, false, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[16], 4, new float[3]));
    }

    [Theory]
    [InlineData(1f, 0f)]
    [InlineData(2.5f, 0f)]
    [InlineData(1f, 1f)]
    [InlineData(-0.5f, 0.75f)]
    [InlineData(0f, 2f)]
    public void AlphaBetaVariants(float alpha, float beta)
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(11);
                foreach (var (m, n, k) in new[] { (13, 33, 7), (97, 130, 31), (1, 31, 257), (33, 1, 13), (7, 13, 1), (2, 3, 2) })
                    Check(rng, rng.Next(2) == 1, rng.Next(2) == 1, m, n, k, alpha, beta, 1, level.ToString());
            });
        }
    }

    [Fact]
    public void BetaZero_OverwritesNaNGarbage()
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(3);
                foreach (var (m, n, k) in new[] { (40, 70, 50), (1, 9, 5), (200, 33, 300) })
                {
                    var a = RandomArray(rng, m * k);
                    var b = RandomArray(rng, k * n);
                    var c = new float[m * n];
                    Array.Fill(c, float.NaN);
                    Gemm.Sgemm(false, false, m, n, k, 1f, a, k, b, n, 0f, c, n);
                    Assert.All(c, v => Assert.True(float.IsFinite(v)));
                }
            });
        }
    }

    [Fact]
    public void KZero_ScalesC()
    {
        var c = new float[] { 1, 2, 3, 4, 5, 6 };
        Gemm.Sgemm(false, false, 2, 3, 0, 1f, [], 1, [], 3, 2f, c, 3);
        Assert.Equal(new float[] { 2, 4, 6, 8, 10, 12 }, c);
        Array.Fill(c, float.NaN);
        Gemm.Sgemm(false, false, 2, 3, 0, 1f, [], 1, [], 3, 0f, c, 3);
        Assert.All(c, v => Assert.Equal(0f, v));
    }

    [Fact]
    public void StridedBatched_MatchesReference()
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(5);
                foreach (var (batch, m, n, k, ta, tb) in new[] { (12, 37, 37, 16, false, true), (3, 13, 70, 33, true, false), (5, 64, 33, 100, false, false) })
                {
                    int aRows = ta ? k : m, aCols = ta ? m : k, bRows = tb ? n : k, bCols = tb ? k : n;
                    int lda = aCols + 1, ldb = bCols + 2, ldc = n + 3;
                    long sa = aRows * lda + 5, sb = bRows * ldb + 1, sc = m * ldc + 2;
                    var a = RandomArray(rng, (int)(sa * batch));
                    var b = RandomArray(rng, (int)(sb * batch));
                    var c = RandomArray(rng, (int)(sc * batch));
                    var c0 = (float[])c.Clone();
                    Gemm.SgemmStridedBatched(ta, tb, m, n, k, 1.5f, a, lda, sa, b, ldb, sb, 0.5f, c, ldc, sc, batch);
                    for (int i = 0; i < batch; i++)
                    {
                        var ai = a.AsSpan((int)(i * sa), (int)sa).ToArray();
                        var bi = b.AsSpan((int)(i * sb), (int)sb).ToArray();
                        var ci0 = c0.AsSpan((int)(i * sc), (int)sc).ToArray();
                        var ci = c.AsSpan((int)(i * sc), (int)sc).ToArray();
                        var expected = Reference(ta, tb, m, n, k, 1.5f, ai, lda, bi, ldb, 0.5f, ci0, ldc);
                        AssertClose(expected, ci, m, n, ldc, k, $"{level} batch item {i}");
                    }
                }
            });
        }
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void PrepackedB_MatchesPlainSgemm(bool sameKBlock)
    {
        // Pre-packed weights use a deeper k block than per-call packing (fewer passes over C), which changes where
        // the k sum is split; with the same k block the two paths must agree bit for bit.
        int packedKc = Gemm.PackedKC;
        try
        {
            if (sameKBlock) Gemm.PackedKC = Gemm.KC;
            PrepackedVersusPlain(bitForBit: sameKBlock);
        }
        finally
        {
            Gemm.PackedKC = packedKc;
        }
    }

    private static void PrepackedVersusPlain(bool bitForBit)
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(9);
                foreach (var (m, n, k, ta, tb) in new[] { (197, 100, 300, false, true), (31, 257, 97, true, false), (130, 33, 513, false, false), (3, 65, 40, true, true), (60, 200, 1600, false, true) })
                {
                    int lda = (ta ? m : k) + 2, ldb = (tb ? k : n) + 1;
                    var a = RandomArray(rng, (ta ? k : m) * lda);
                    var b = RandomArray(rng, (tb ? n : k) * ldb);
                    var packed = Gemm.PackB(tb, k, n, b, ldb);
                    Assert.Equal(k, packed.K);
                    Assert.Equal(n, packed.N);
                    var c1 = RandomArray(rng, m * n);
                    var c2 = (float[])c1.Clone();
                    var expected = Reference(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.25f, c1, n);
                    Gemm.Sgemm(ta, m, 0.75f, a, lda, packed, 0.25f, c1, n);
                    AssertClose(expected, c1, m, n, n, k, $"{level} packed m={m} n={n} k={k}");
                    Gemm.Sgemm(ta, tb, m, n, k, 0.75f, a, lda, b, ldb, 0.25f, c2, n);
                    if (bitForBit && (long)m * n * k > 1 << 15 && m > 1) Assert.Equal(c2, c1);
                    else AssertClose(expected, c2, m, n, n, k, $"{level} plain m={m} n={n} k={k}");
                }
            });
        }
    }

    private struct AffineEpilogue : IGemmEpilogue
    {
        public int[] Visits, Prefetched;
        public int N;

        // Every block asked for lies inside C, and (packed path) each element is asked for before it is finished.
        public readonly void Prefetch(int row0, int rows, int col0, int cols)
        {
            for (int r = row0; r < row0 + rows; r++)
                for (int j = col0; j < col0 + cols; j++) Interlocked.Increment(ref Prefetched[r * N + j]);
        }

        public readonly void Apply(int row, int col0, Span<float> seg)
        {
            for (int j = 0; j < seg.Length; j++)
            {
                Interlocked.Increment(ref Visits[row * N + col0 + j]);
                seg[j] = 2 * seg[j] + 1;
            }
        }
    }

    [Fact]
    public void BiasAndEpilogue_VisitEveryElementOnce()
    {
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(13);
                foreach (var (m, n, k, prepacked) in new[] { (197, 130, 257, false), (197, 130, 257, true), (5, 7, 3, false), (64, 96, 64, true), (300, 500, 64, false) })
                {
                    var a = RandomArray(rng, m * k);
                    var b = RandomArray(rng, n * k);
                    var bias = RandomArray(rng, n);
                    var c = RandomArray(rng, m * n, float.NaN);
                    var expected = Reference(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n, bias);
                    var epi = new AffineEpilogue { Visits = new int[m * n], Prefetched = new int[m * n], N = n };
                    if (prepacked) Gemm.Sgemm(false, m, 1f, a, k, Gemm.PackB(true, k, n, b, k), 0f, c, n, bias, epi);
                    else Gemm.Sgemm(false, true, m, n, k, 1f, a, k, b, k, 0f, c, n, bias, epi);
                    Assert.All(epi.Visits, v => Assert.Equal(1, v));
                    if ((long)m * n * k > 1 << 15) Assert.All(epi.Prefetched, v => Assert.Equal(1, v)); // the small direct path does not prefetch
                    for (int i = 0; i < c.Length; i++) c[i] = (c[i] - 1) / 2;
                    AssertClose(expected, c, m, n, n, k, $"{level} epilogue m={m} n={n} k={k} prepacked={prepacked}");
                }
            });
        }
    }

    [Fact]
    public void PrepackedFewRows_GuidedColumnRegions_MatchReference_SameOnEveryThreadCount()
    {
        // Few rows over pre-packed weights split C by columns, into regions that shrink toward each worker's end; each
        // worker packs all of A once (every k block) and reuses it for its later regions. Several k blocks, ragged
        // rows, both A layouts, an epilogue visiting every element once; bit-identical for 1-3 threads and with the
        // guided regions switched off.
        int saved = Workers.ThreadCount;
        bool savedGuided = Gemm.GuidedColumns;
        try
        {
            foreach (var level in Levels())
            {
                Cpu.With(level, () =>
                {
                    var rng = new Random(31);
                    foreach (var (ta, m, n, k) in new[] { (false, 197, 2304, 300), (true, 13, 1000, 1700), (false, 37, 3072, 770) })
                    {
                        int lda = ta ? m + 3 : k + 1;
                        var a = RandomArray(rng, (ta ? k : m) * lda);
                        var b = RandomArray(rng, n * k);
                        var bias = RandomArray(rng, n);
                        var packed = Gemm.PackB(true, k, n, b, k);
                        var expected = Reference(ta, true, m, n, k, 1f, a, lda, b, k, 0f, new float[m * n], n, bias);
                        float[]? first = null;
                        foreach (var (threads, guided) in new[] { (1, true), (2, true), (3, true), (2, false) })
                        {
                            Workers.ThreadCount = threads;
                            Gemm.GuidedColumns = guided;
                            var c = RandomArray(rng, m * n, float.NaN);
                            var epi = new AffineEpilogue { Visits = new int[m * n], Prefetched = new int[m * n], N = n };
                            Gemm.Sgemm(ta, m, 1f, a, lda, packed, 0f, c, n, bias, epi);
                            string what = $"{level} threads={threads} guided={guided} ta={ta} m={m} n={n} k={k}";
                            Assert.All(epi.Visits, v => Assert.Equal(1, v));
                            for (int i = 0; i < c.Length; i++) c[i] = (c[i] - 1) / 2;
                            AssertClose(expected, c, m, n, n, k, what);
                            if (first == null) first = c;
                            else Assert.True(first.AsSpan().SequenceEqual(c), what + ": differs from 1 thread");
                        }
                    }
                });
            }
        }
        finally
        {
            Workers.ThreadCount = saved;
            Gemm.GuidedColumns = savedGuided;
        }
    }

    [Fact]
    public void Bias_AddedAtTheStore_MatchesASeparatePass()
    {
        // The micro-kernels add the bias as they store the last k block, after the beta update: bit for bit what
        // adding it afterwards gives, for several k blocks, ragged tiles, every beta, in-place operands and levels.
        foreach (var level in Levels())
        {
            Cpu.With(level, () =>
            {
                var rng = new Random(17);
                foreach (var (tb, m, n, k, prepacked) in new[] { (true, 197, 130, 900, false), (false, 61, 200, 777, false), (true, 37, 96, 1000, true), (false, 130, 600, 65, false) })
                {
                    foreach (float beta in new[] { 0f, 1f, 0.5f })
                    {
                        var a = RandomArray(rng, m * k);
                        var b = RandomArray(rng, n * k);
                        var bias = RandomArray(rng, n);
                        var c0 = RandomArray(rng, m * n);
                        var fused = (float[])c0.Clone();
                        var separate = (float[])c0.Clone();
                        int ldb = tb ? k : n;
                        if (prepacked) Gemm.Sgemm(false, m, 1f, a, k, Gemm.PackB(tb, k, n, b, ldb), beta, fused, n, bias, default(NoEpilogue));
                        else Gemm.Sgemm(false, tb, m, n, k, 1f, a, k, b, ldb, beta, fused, n, bias, default(NoEpilogue));
                        if (prepacked) Gemm.Sgemm(false, m, 1f, a, k, Gemm.PackB(tb, k, n, b, ldb), beta, separate, n);
                        else Gemm.Sgemm(false, tb, m, n, k, 1f, a, k, b, ldb, beta, separate, n);
                        for (int i = 0; i < m; i++)
                            for (int j = 0; j < n; j++) separate[i * n + j] += bias[j];
                        Assert.True(fused.AsSpan().SequenceEqual(separate), $"{level} tb={tb} m={m} n={n} k={k} beta={beta} prepacked={prepacked}");
                    }
                }
            });
        }
    }

    [Fact]
    public void SplitK_LongK_MatchesReference_SameOnEveryThreadCount()
    {
        // k ≥ 2048 and ≥ 4·max(m, n) runs as two half-k products added together (the weight-gradient GEMMs): every
        // transpose, beta, a padded ldc and the row sums; bit-identical for 1-3 threads.
        int saved = Workers.ThreadCount;
        try
        {
            foreach (var level in Levels())
            {
                Cpu.With(level, () =>
                {
                    var rng = new Random(23);
                    foreach (var (ta, tb, m, n, k, beta, sums) in new[] { (true, false, 100, 60, 4099, 0f, true), (false, false, 50, 70, 3001, 0.5f, false), (false, true, 33, 40, 2500, 1f, false), (true, false, 7, 300, 2400, 0f, true) })
                    {
                        int lda = ta ? m : k, ldb = tb ? k : n, ldc = n + 3;
                        var a = RandomArray(rng, (ta ? k : m) * lda);
                        var b = RandomArray(rng, (tb ? n : k) * ldb);
                        var c0 = RandomArray(rng, m * ldc);
                        var expected = Reference(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c0, ldc);
                        float[]? first = null, firstSums = null;
                        foreach (int threads in new[] { 1, 2, 3 })
                        {
                            Workers.ThreadCount = threads;
                            var c = (float[])c0.Clone();
                            var rowSums = new float[m];
                            if (sums) Gemm.SgemmWithRowSums(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc, rowSums);
                            else Gemm.Sgemm(ta, tb, m, n, k, 1f, a, lda, b, ldb, beta, c, ldc);
                            string what = $"{level} threads={threads} ta={ta} tb={tb} m={m} n={n} k={k} beta={beta}";
                            AssertClose(expected, c, m, n, ldc, k, what);
                            if (sums)
                            {
                                for (int i = 0; i < m; i++)
                                {
                                    double e = 0, mag = 0;
                                    for (int p = 0; p < k; p++) { double v = ta ? a[p * lda + i] : a[i * lda + p]; e += v; mag += Math.Abs(v); }
                                    Assert.True(Math.Abs(rowSums[i] - e) <= 1e-5 * mag + 1e-6, $"{what}: row sum {i} = {rowSums[i]}, expected {e}");
                                }
                            }
                            if (first == null) { first = c; firstSums = rowSums; }
                            else
                            {
                                Assert.True(first.AsSpan().SequenceEqual(c), what + ": differs from 1 thread");
                                Assert.True(firstSums!.AsSpan().SequenceEqual(rowSums), what + ": row sums differ from 1 thread");
                            }
                        }
                    }
                });
            }
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    [Fact]
    public unsafe void LinearBackward_EqualsTheSeparateProducts_BitForBit_OnEveryThreadCount()
    {
        // dW = dYᵀ·X (+ db) and dX = epilogue(dY·W) in one job must equal the two separate calls exactly: shapes that take
        // the paired path (rows ≥ 2048 and ≥ 4·max(out, in)), one that falls back, with and without db and epilogue,
        // a padded dX stride; 1-3 threads.
        int saved = Workers.ThreadCount;
        try
        {
            foreach (var level in Levels())
            {
                Cpu.With(level, () =>
                {
                    var rng = new Random(29);
                    foreach (var (rows, outF, inF, bias, mul) in new[] { (2500, 37, 70, true, true), (3001, 64, 300, false, false), (2100, 600, 50, true, false), (4099, 13, 5, true, true) })
                    {
                        int lddx = inF + 5;
                        var dy = RandomArray(rng, rows * outF);
                        var x = RandomArray(rng, rows * inF);
                        var w = RandomArray(rng, outF * inF);
                        var factor = GC.AllocateUninitializedArray<float>(rows * lddx, pinned: true);
                        RandomArray(rng, factor.Length).CopyTo(factor, 0);
                        fixed (float* pf = factor)
                        {
                            Workers.ThreadCount = 1;
                            var dw0 = new float[outF * inF];
                            var db0 = new float[bias ? outF : 0];
                            var dx0 = RandomArray(rng, rows * lddx);
                            var dxInit = (float[])dx0.Clone();
                            if (bias) Gemm.SgemmWithRowSums(true, false, outF, inF, rows, 1f, dy, outF, x, inF, 0f, dw0, inF, db0);
                            else Gemm.Sgemm(true, false, outF, inF, rows, 1f, dy, outF, x, inF, 0f, dw0, inF);
                            if (mul) Gemm.Sgemm(false, false, rows, inF, outF, 1f, dy, outF, w, inF, 0f, dx0, lddx, default, new MulEpilogue(pf, lddx));
                            else Gemm.Sgemm(false, false, rows, inF, outF, 1f, dy, outF, w, inF, 0f, dx0, lddx);
                            AssertClose(Reference(true, false, outF, inF, rows, 1f, dy, outF, x, inF, 0f, new float[outF * inF], inF), dw0, outF, inF, inF, rows, "dW reference");
                            foreach (int threads in new[] { 1, 2, 3 })
                            {
                                Workers.ThreadCount = threads;
                                var dw = RandomArray(rng, outF * inF);
                                var db = RandomArray(rng, bias ? outF : 0);
                                var dx = (float[])dxInit.Clone();
                                if (mul) Gemm.LinearBackward(rows, outF, inF, dy, outF, x, inF, w, dw, db, dx, lddx, new MulEpilogue(pf, lddx));
                                else Gemm.LinearBackward(rows, outF, inF, dy, outF, x, inF, w, dw, db, dx, lddx, default(NoEpilogue));
                                string what = $"{level} threads={threads} rows={rows} out={outF} in={inF} bias={bias} mul={mul}";
                                Assert.True(dw0.AsSpan().SequenceEqual(dw), what + ": dW differs from the separate product");
                                Assert.True(db0.AsSpan().SequenceEqual(db), what + ": db differs from the separate row sums");
                                Assert.True(dx0.AsSpan().SequenceEqual(dx), what + ": dX differs from the separate product (or its padding was touched)");
                            }
                        }
                    }
                });
            }
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    [Fact]
    public void Deterministic_AcrossRunsAndThreadCounts()
    {
        var rng = new Random(17);
        int m = 301, n = 517, k = 611;
        AssertSameForThreadCounts([1, 2, 3, 4, 2], false, m, n, k, RandomArray(rng, m * k), RandomArray(rng, k * n), "threads");
    }

    /// <summary>C = A·op(B) with each thread count in turn: bit-identical every time, and close to the reference.</summary>
    private static void AssertSameForThreadCounts(int[] threadCounts, bool tb, int m, int n, int k, float[] a, float[] b, string what)
    {
        int ldb = tb ? k : n;
        int saved = Workers.ThreadCount;
        try
        {
            float[]? first = null;
            foreach (int threads in threadCounts)
            {
                Workers.ThreadCount = threads;
                var c = new float[m * n];
                Gemm.Sgemm(false, tb, m, n, k, 1f, a, k, b, ldb, 0f, c, n);
                if (first == null) first = c;
                else Assert.Equal(first, c);
            }
            var expected = Reference(false, tb, m, n, k, 1f, a, k, b, ldb, 0f, first!, n);
            AssertClose(expected, first!, m, n, n, k, what);
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    [Fact]
    public void MultiThreadGrid_MatchesReference()
    {
        // 4 threads on any machine: exercises 2×2 grids and the shared packed B.
        int saved = Workers.ThreadCount;
        try
        {
            Workers.ThreadCount = 4;
            var rng = new Random(19);
            Check(rng, false, false, 1576 / 4, 768, 300, 1f, 0f, 0, "grid");
            Check(rng, true, true, 97, 2049, 130, 1f, 1f, 1, "grid");
            Check(rng, false, true, 600, 40, 257, 1f, 0f, 2, "grid");
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    [Fact]
    public void TallSharedB_GuidedRowRegions_MatchReference_AndAgreeAcrossThreadCounts()
    {
        // m ≥ 2·2·96 with a transposed (packed, shared) B: each participant's rows are cut into shrinking regions.
        var rng = new Random(23);
        int m = 3203, n = 70, k = 45;
        AssertSameForThreadCounts([1, 2, 3], true, m, n, k, RandomArray(rng, m * k), RandomArray(rng, n * k), "guided");
    }

    [Theory]
    [InlineData(6304, 2, 8)]
    [InlineData(1576, 2, 2)]
    [InlineData(3203, 3, 2)]
    [InlineData(197, 2, 1)]
    public void GuidedRows_TileEachParticipantsBlock_InShrinkingRegions(int m, int threads, int per)
    {
        int tm = threads * per;
        Assert.Equal(0, Gemm.GuidedRow(m, tm, per, 0));
        Assert.Equal(m, Gemm.GuidedRow(m, tm, per, tm));
        for (int blk = 0; blk < threads; blk++)
        {
            // Block boundaries are those of the Workers partition, so each participant starts on its own rows.
            Assert.Equal((int)((long)m * blk / threads), Gemm.GuidedRow(m, tm, per, blk * per));
            int prev = m;
            for (int k = 0; k < per; k++)
            {
                int r = blk * per + k, size = Gemm.GuidedRow(m, tm, per, r + 1) - Gemm.GuidedRow(m, tm, per, r);
                Assert.True(size > 0, $"region {r} is empty");
                Assert.True(size <= prev + Gemm.MR, $"region {r} ({size} rows) is larger than the one before ({prev})");
                prev = size;
            }
        }
    }

    [Fact]
    public void BadArguments_ThrowWithShapes()
    {
        var ex = Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[15], 4, new float[16], 4, 0f, new float[16], 4));
        Assert.Contains("A", ex.Message);
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, false, 4, 4, 4, 1f, new float[16], 3, new float[16], 4, 0f, new float[16], 4));
        Assert.Throws<ArgumentException>(() => Gemm.Sgemm(false, true, 4, 4, 4, 1f, new float[16], 4, new float[16], 4, 0f, new float[16], 4, new float[3], default(NoEpilogue)));
        Assert.Throws<ArgumentException>(() => Gemm.PackB(true, 5, 4, new float[19], 5));
    }
}
