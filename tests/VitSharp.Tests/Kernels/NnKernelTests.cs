using VitSharp.Autograd;
using VitSharp.Kernels;
using VitSharp.Tensors;
using VitSharp.Tests.Functional;

namespace VitSharp.Tests.Kernels;

/// <summary>NN kernels against naive double-precision references on odd shapes, each SIMD path forced.</summary>
// Forces SIMD levels (a process-wide setting): runs in the non-parallel collection so it cannot disturb
// bit-exact tests elsewhere.
[Collection("NnGlobalState")]
public class NnKernelTests
{
    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(6304, 192, 576)]
    [InlineData(70, 97, 101)]
    [InlineData(5, 33, 33)]
    public unsafe void ColumnSums_MatchDouble(int rows, int cols, int ld)
    {
        // Strided column sums (a bias gradient taken from a column block of a wider gradient matrix).
        var rng = new Rng(4);
        var x = NnTestUtil.Rand(rng, (rows - 1) * ld + cols);
        var expected = new double[cols];
        for (int r = 0; r < rows; r++)
            for (int j = 0; j < cols; j++) expected[j] += x[r * ld + j];
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[cols];
            fixed (float* px = x, py = y) Reduce.SumColumns(px, rows, cols, ld, py, 1f);
            for (int j = 0; j < cols; j++) Assert.True(Math.Abs(y[j] - expected[j]) <= 1e-4 * (1 + Math.Abs(expected[j])), $"{level} col {j}: {y[j]} vs {expected[j]}");
        });
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(3, 197, 1)]
    [InlineData(2, 31, 5)]
    [InlineData(1, 7, 37)]
    public void Softmax_MatchesDouble(int outer, int dim, int inner)
    {
        var rng = new Rng(1);
        int n = outer * dim * inner;
        var x = NnTestUtil.Rand(rng, n, -30, 30);
        var g = NnTestUtil.Rand(rng, n);
        var sm = new double[n];
        var lsm = new double[n];
        var dsm = new double[n];
        var dlsm = new double[n];
        for (int o = 0; o < outer; o++)
        {
            for (int i = 0; i < inner; i++)
            {
                int At(int d) => (o * dim + d) * inner + i;
                double m = double.NegativeInfinity, s = 0, gy = 0, gs = 0;
                for (int d = 0; d < dim; d++) m = Math.Max(m, x[At(d)]);
                for (int d = 0; d < dim; d++) s += Math.Exp(x[At(d)] - m);
                for (int d = 0; d < dim; d++) { sm[At(d)] = Math.Exp(x[At(d)] - m) / s; lsm[At(d)] = x[At(d)] - m - Math.Log(s); }
                for (int d = 0; d < dim; d++) { gy += g[At(d)] * sm[At(d)]; gs += g[At(d)]; }
                for (int d = 0; d < dim; d++) { dsm[At(d)] = sm[At(d)] * (g[At(d)] - gy); dlsm[At(d)] = g[At(d)] - sm[At(d)] * gs; }
            }
        }
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[n];
            var dx = new float[n];
            Softmax.Forward(x, y, outer, dim, inner, log: false);
            NnTestUtil.Close(sm, y, 1e-6, 1e-5, $"{level} softmax");
            Softmax.Backward(y, g, dx, outer, dim, inner, log: false);
            NnTestUtil.Close(dsm, dx, 1e-6, 1e-4, $"{level} softmax backward");
            Softmax.Forward(x, y, outer, dim, inner, log: true);
            NnTestUtil.Close(lsm, y, 1e-5, 1e-6, $"{level} log_softmax");
            Softmax.Backward(y, g, dx, outer, dim, inner, log: true);
            NnTestUtil.Close(dlsm, dx, 1e-5, 1e-4, $"{level} log_softmax backward");
        });
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(5, 197)]
    [InlineData(3, 771)]
    [InlineData(70, 13)]
    public void LayerNorm_MatchesDouble(int rows, int dim)
    {
        var rng = new Rng(2);
        var x = NnTestUtil.Rand(rng, rows * dim, -3, 5);
        var w = NnTestUtil.Rand(rng, dim, 0.5f, 1.5f);
        var b = NnTestUtil.Rand(rng, dim);
        var g = NnTestUtil.Rand(rng, rows * dim);
        const float eps = 1e-6f;
        var y = new double[rows * dim];
        var dx = new double[rows * dim];
        var dw = new double[dim];
        var db = new double[dim];
        for (int r = 0; r < rows; r++)
        {
            double m = 0, v = 0;
            for (int i = 0; i < dim; i++) m += x[r * dim + i];
            m /= dim;
            for (int i = 0; i < dim; i++) v += (x[r * dim + i] - m) * (x[r * dim + i] - m);
            double rs = 1 / Math.Sqrt(v / dim + eps);
            double a1 = 0, a2 = 0;
            for (int i = 0; i < dim; i++)
            {
                double xh = (x[r * dim + i] - m) * rs, gv = g[r * dim + i];
                y[r * dim + i] = xh * w[i] + b[i];
                dw[i] += gv * xh; db[i] += gv;
                a1 += gv * w[i]; a2 += gv * w[i] * xh;
            }
            for (int i = 0; i < dim; i++)
            {
                double xh = (x[r * dim + i] - m) * rs;
                dx[r * dim + i] = rs * (g[r * dim + i] * w[i] - a1 / dim - xh * a2 / dim);
            }
        }
        NnTestUtil.ForEachLevel(level =>
        {
            var yy = new float[rows * dim];
            var mean = new float[rows];
            var rstd = new float[rows];
            LayerNorm.Forward(x, w, b, yy, mean, rstd, rows, dim, eps);
            NnTestUtil.Close(y, yy, 1e-5, 1e-5, $"{level} y");
            var dxx = new float[rows * dim];
            var dww = new float[dim];
            var dbb = new float[dim];
            LayerNorm.Backward(x, w, mean, rstd, g, dxx, dww, dbb, rows, dim);
            NnTestUtil.Close(dx, dxx, 1e-4, 1e-4, $"{level} dx");
            NnTestUtil.Close(dw, dww, 1e-4, 1e-4, $"{level} dw");
            NnTestUtil.Close(db, dbb, 1e-4, 1e-4, $"{level} db");
            // accumulate: dx += the same gradient (a residual branch joining the skip path).
            var acc = new float[rows * dim];
            for (int i = 0; i < acc.Length; i++) acc[i] = i % 7 - 3;
            LayerNorm.Backward(x, w, mean, rstd, g, acc, default, default, rows, dim, accumulate: true);
            var expected = new double[acc.Length];
            for (int i = 0; i < acc.Length; i++) expected[i] = i % 7 - 3 + dx[i];
            NnTestUtil.Close(expected, acc, 1e-4, 1e-4, $"{level} dx accumulated");
        });
    }

    [Theory]
    [InlineData(1, 2, 1, 5)]
    [InlineData(2, 4, 3, 7)]
    [InlineData(1, 32, 8, 3)]
    public void GroupNorm_MatchesDouble(int n, int c, int groups, int hw)
    {
        var rng = new Rng(3);
        var x = NnTestUtil.Rand(rng, n * c * hw, -2, 3);
        var w = NnTestUtil.Rand(rng, c, 0.5f, 1.5f);
        var b = NnTestUtil.Rand(rng, c);
        var y = new double[x.Length];
        int cpg = c / groups, len = cpg * hw;
        for (int s = 0; s < n; s++)
        {
            for (int gr = 0; gr < groups; gr++)
            {
                int o = (s * c + gr * cpg) * hw;
                double m = 0, v = 0;
                for (int i = 0; i < len; i++) m += x[o + i];
                m /= len;
                for (int i = 0; i < len; i++) v += (x[o + i] - m) * (x[o + i] - m);
                double rs = 1 / Math.Sqrt(v / len + 1e-5);
                for (int i = 0; i < len; i++) y[o + i] = (x[o + i] - m) * rs * w[gr * cpg + i / hw] + b[gr * cpg + i / hw];
            }
        }
        NnTestUtil.ForEachLevel(level =>
        {
            var yy = new float[x.Length];
            GroupNorm.Forward(x, w, b, yy, new float[n * groups], new float[n * groups], n, c, hw, groups, 1e-5f);
            NnTestUtil.Close(y, yy, 1e-5, 1e-5, $"{level}");
        });
    }

    /// <summary>Naive attention in double for one (b, h): o = softmax(q kᵀ s) v.</summary>
    private static double[] NaiveAttention(Tensor qt, Tensor kt, Tensor vt, float scale)
    {
        int b = qt.Shape[0], h = qt.Shape[1], nq = qt.Shape[2], nk = kt.Shape[2], dh = qt.Shape[3];
        float[] q = qt.ToArray(), k = kt.ToArray(), v = vt.ToArray();
        var o = new double[b * h * nq * dh];
        var s = new double[nk];
        for (int bh = 0; bh < b * h; bh++)
            for (int r = 0; r < nq; r++)
            {
                double m = double.NegativeInfinity, sum = 0;
                int qo = (bh * nq + r) * dh;
                for (int c = 0; c < nk; c++)
                {
                    double acc = 0;
                    int ko = (bh * nk + c) * dh;
                    for (int d = 0; d < dh; d++) acc += (double)q[qo + d] * k[ko + d];
                    s[c] = acc * scale;
                    m = Math.Max(m, s[c]);
                }
                for (int c = 0; c < nk; c++) { s[c] = Math.Exp(s[c] - m); sum += s[c]; }
                for (int d = 0; d < dh; d++)
                {
                    double acc = 0;
                    for (int c = 0; c < nk; c++) acc += s[c] * v[(bh * nk + c) * dh + d];
                    o[qo + d] = acc / sum;
                }
            }
        return o;
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 1)]
    [InlineData(1, 2, 197, 197, 64)]
    [InlineData(2, 3, 13, 13, 24)]
    [InlineData(1, 1, 5, 300, 17)]
    [InlineData(1, 3, 131, 129, 48)]
    public void Attention_MatchesDouble(int b, int h, int nq, int nk, int dh)
    {
        var rng = new Rng(4);
        var q = NnTestUtil.RandT(rng, -2, 2, b, h, nq, dh);
        var k = NnTestUtil.RandT(rng, -2, 2, b, h, nk, dh);
        var v = NnTestUtil.RandT(rng, -1, 1, b, h, nk, dh);
        float scale = 1f / MathF.Sqrt(dh);
        var expected = NaiveAttention(q, k, v, scale);
        NnTestUtil.ForEachLevel(level =>
        {
            var o = F.ScaledDotProductAttention(q, k, v, scale);
            NnTestUtil.Close(expected, o.ToArray(), 2e-6, 1e-5, $"{level}");
        });
    }

    [Fact]
    public void Attention_StridedQkvViews_AndFreeHeadMerge()
    {
        // The ViT pattern: qkv (B, N, 3, H, Dh) permuted to (3, B, H, N, Dh) and sliced: no copies needed.
        int b = 2, n = 11, h = 3, dh = 8;
        var rng = new Rng(5);
        var qkv = NnTestUtil.RandT(rng, -2, 2, b, n, 3, h, dh).Permute(2, 0, 3, 1, 4);
        var q = qkv.Select(0, 0);
        var k = qkv.Select(0, 1);
        var v = qkv.Select(0, 2);
        Assert.False(q.IsContiguous);
        var expected = NaiveAttention(q.Contiguous(), k.Contiguous(), v.Contiguous(), 0.3f);
        var o = F.ScaledDotProductAttention(q, k, v, 0.3f);
        NnTestUtil.Close(expected, o.ToArray(), 2e-6, 1e-5, "strided");
        Assert.True(o.Transpose(1, 2).IsContiguous);
        Assert.Equal([b, n, h * dh], o.Transpose(1, 2).Reshape(b, n, h * dh).Shape);
    }

    [Fact]
    public void Attention_DropoutMatchesExplicitMask()
    {
        // With dropout the output must equal (P ∘ M / (1 − p)) · V for the kernel's own mask.
        int n = 9, dh = 5;
        const float p = 0.3f;
        var rng = new Rng(7);
        var q = NnTestUtil.RandT(rng, -1, 1, 1, 1, n, dh);
        var k = NnTestUtil.RandT(rng, -1, 1, 1, 1, n, dh);
        var v = NnTestUtil.RandT(rng, -1, 1, 1, 1, n, dh);
        var seedRng = new Rng(11);
        ulong seed = new Rng(11).NextUInt64();
        var o = F.ScaledDotProductAttention(q, k, v, 0.5f, p, seedRng);
        var probs = F.AttentionProbs(q, k, 0.5f);
        uint thr = Attention.DropThreshold(p);
        int kept = 0;
        for (int i = 0; i < n; i++)
            for (int d = 0; d < dh; d++)
            {
                double acc = 0;
                for (int j = 0; j < n; j++)
                {
                    bool keep = Attention.Keep(seed, 0, i, j, thr);
                    if (keep && d == 0) kept++;
                    if (keep) acc += probs[0, 0, i, j] / (1 - p) * v[0, 0, j, d];
                }
                Assert.True(Math.Abs(acc - o[0, 0, i, d]) < 1e-5, $"({i},{d}): {acc} vs {o[0, 0, i, d]}");
            }
        Assert.InRange(kept, 40, 75); // ≈ 0.7 · 81
    }

    [Theory]
    [InlineData(1, 3, 3, 5, 1, 0, 0, 0, 0, 3, 2)]
    [InlineData(2, 3, 8, 7, 2, 1, 2, 0, 1, 3, 2)]
    [InlineData(1, 2, 9, 11, 3, 2, 1, 1, 2, 3, 2)]
    [InlineData(2, 4, 5, 6, 1, 0, 0, 0, 0, 1, 1)]
    [InlineData(2, 4, 5, 6, 2, 0, 0, 0, 0, 1, 1)]
    [InlineData(1, 3, 10, 9, 2, 2, 3, 2, 3, 7, 7)]
    public void Conv2d_MatchesDouble(int n, int c, int h, int w, int stride, int top, int bottom, int left, int right, int kh, int kw)
    {
        var rng = new Rng(8);
        int o = 5;
        var x = NnTestUtil.RandT(rng, -1, 1, n, c, h, w);
        var wt = NnTestUtil.RandT(rng, -1, 1, o, c, kh, kw);
        var b = NnTestUtil.RandT(rng, -1, 1, o);
        var y = F.Conv2d(x, wt, b, stride, new Padding2d(top, bottom, left, right));
        int oh = (h + top + bottom - kh) / stride + 1, ow = (w + left + right - kw) / stride + 1;
        Assert.Equal([n, o, oh, ow], y.Shape);
        for (int s = 0; s < n; s++)
            for (int oc = 0; oc < o; oc++)
                for (int oy = 0; oy < oh; oy++)
                    for (int ox = 0; ox < ow; ox++)
                    {
                        double acc = b[oc];
                        for (int ic = 0; ic < c; ic++)
                            for (int ky = 0; ky < kh; ky++)
                                for (int kx = 0; kx < kw; kx++)
                                {
                                    int iy = oy * stride + ky - top, ix = ox * stride + kx - left;
                                    if (iy >= 0 && iy < h && ix >= 0 && ix < w) acc += (double)x[s, ic, iy, ix] * wt[oc, ic, ky, kx];
                                }
                        Assert.True(Math.Abs(acc - y[s, oc, oy, ox]) < 1e-5, $"({s},{oc},{oy},{ox}): {acc} vs {y[s, oc, oy, ox]}");
                    }
    }

    [Fact]
    public void Linear_MatchesDouble_OddShapes()
    {
        foreach (var (m, inF, outF) in new[] { (1, 1, 1), (7, 13, 5), (197, 31, 17) })
        {
            var rng = new Rng(9);
            var x = NnTestUtil.RandT(rng, -1, 1, m, inF);
            var w = NnTestUtil.RandT(rng, -1, 1, outF, inF);
            var b = NnTestUtil.RandT(rng, -1, 1, outF);
            var y = F.Linear(x, w, b);
            var yg = F.LinearGelu(x, w, b);
            for (int i = 0; i < m; i++)
                for (int j = 0; j < outF; j++)
                {
                    double acc = b[j];
                    for (int p = 0; p < inF; p++) acc += (double)x[i, p] * w[j, p];
                    Assert.True(Math.Abs(acc - y[i, j]) < 1e-5);
                    double ge = 0.5 * acc * (1 + NnTestUtil.ErfRef(acc / Math.Sqrt(2)));
                    Assert.True(Math.Abs(ge - yg[i, j]) < 1e-5);
                }
        }
    }

    [Fact]
    public void DropPath_ZeroesWholeSamples()
    {
        var x = Tensor.Ones(64, 3, 2);
        var y = F.DropPath(x, 0.5f, true, new Rng(1)).ToArray();
        for (int s = 0; s < 64; s++)
        {
            var row = y.AsSpan(s * 6, 6);
            Assert.True(row.ToArray().All(v => v == 0) || row.ToArray().All(v => v == 2f));
        }
        Assert.Equal(y, F.DropPath(x, 0.5f, true, new Rng(1)).ToArray());
    }

    [Fact]
    public void CrossEntropy_BadTargets_ThrowShapeException()
    {
        var logits = Tensor.Zeros(3, 4);
        var e1 = Assert.Throws<ShapeException>(() => F.CrossEntropy(logits, [0, 1]));
        Assert.Contains("2 targets", e1.Message);
        Assert.Contains("[3, 4]", e1.Message);
        var e2 = Assert.Throws<ShapeException>(() => F.CrossEntropy(logits, [0, 4, 1]));
        Assert.Contains("target 4", e2.Message);
        Assert.Throws<ShapeException>(() => F.CrossEntropy(logits, [0, -1, 1]));
        Assert.Throws<ShapeException>(() => F.CrossEntropy(logits, Tensor.Zeros(3, 5)));
        Assert.Throws<ShapeException>(() => F.CrossEntropy(Tensor.Zeros(3), [0, 0, 0]));
    }

    [Fact]
    public void BadShapes_ThrowNamingOpAndShapes()
    {
        var e = Assert.Throws<ShapeException>(() => F.Linear(Tensor.Zeros(2, 3), Tensor.Zeros(4, 5), null));
        Assert.Contains("linear", e.Message);
        Assert.Contains("[2, 3]", e.Message);
        Assert.Contains("[4, 5]", e.Message);
        Assert.Throws<ShapeException>(() => F.LayerNorm(Tensor.Zeros(2, 3), Tensor.Zeros(4), null, 1e-5f));
        Assert.Throws<ShapeException>(() => F.GroupNorm(Tensor.Zeros(1, 6, 2, 2), 4, null, null, 1e-5f));
        Assert.Throws<ShapeException>(() => F.ScaledDotProductAttention(Tensor.Zeros(1, 2, 3, 4), Tensor.Zeros(1, 2, 3, 5), Tensor.Zeros(1, 2, 3, 4), 1));
        Assert.Throws<ShapeException>(() => F.Conv2d(Tensor.Zeros(1, 3, 4, 4), Tensor.Zeros(2, 2, 3, 3), null, 1, default));
        Assert.Throws<ShapeException>(() => F.Conv2d(Tensor.Zeros(1, 3, 2, 2), Tensor.Zeros(2, 3, 3, 3), null, 1, default));
    }

    [Fact]
    public void Erf_ScalarAndSpanAgree()
    {
        var x = NnTestUtil.Rand(new Rng(10), 100, -5, 5);
        var y = new float[100];
        Erf.Apply(x, y);
        for (int i = 0; i < 100; i++) Assert.True(Math.Abs(Erf.Scalar(x[i]) - y[i]) <= 2e-7f);
    }
}

/// <summary>
/// Runs alone: these tests change <see cref="Workers.ThreadCount"/> and compare results bit for bit, so no other
/// test may flip the global SIMD level or thread count meanwhile.
/// </summary>
[CollectionDefinition("NnGlobalState", DisableParallelization = true)]
public sealed class NnGlobalStateCollection;

[Collection("NnGlobalState")]
public class NnDeterminismTests
{
    [Fact]
    public void Attention_ThreadCountDoesNotChangeResults()
    {
        var rng = new Rng(6);
        var q = NnTestUtil.Leaf(rng, 1, 2, 67, 16);
        var k = NnTestUtil.Leaf(rng, 1, 2, 67, 16);
        var v = NnTestUtil.Leaf(rng, 1, 2, 67, 16);
        var g = NnTestUtil.RandT(rng, -1, 1, 1, 2, 67, 16);
        float[] Run(int threads)
        {
            int saved = Workers.ThreadCount;
            Workers.ThreadCount = threads;
            try
            {
                q.Grad = k.Grad = v.Grad = null;
                var o = F.ScaledDotProductAttention(q, k, v, 0.25f, 0.2f, new Rng(9));
                o.Backward(g);
                return [.. o.ToArray(), .. q.Grad!.ToArray(), .. k.Grad!.ToArray(), .. v.Grad!.ToArray()];
            }
            finally { Workers.ThreadCount = saved; }
        }
        Assert.Equal(Run(1), Run(2));
        Assert.Equal(Run(2), Run(3));
    }

    [Fact]
    public void Dropout_DeterministicForSeed_AndIndependentOfThreads()
    {
        var x = Tensor.Ones(300, 301);
        var a = F.Dropout(x, 0.25f, true, new Rng(42)).ToArray();
        int saved = Workers.ThreadCount;
        Workers.ThreadCount = 1;
        var b = F.Dropout(x, 0.25f, true, new Rng(42)).ToArray();
        Workers.ThreadCount = saved;
        Assert.Equal(a, b);
        double kept = a.Count(v => v != 0) / (double)a.Length;
        Assert.InRange(kept, 0.74, 0.76);
        Assert.All(a, v => Assert.True(v == 0 || Math.Abs(v - 1 / 0.75f) < 1e-6));
        Assert.NotEqual(a, F.Dropout(x, 0.25f, true, new Rng(43)).ToArray());
        Assert.Same(x, F.Dropout(x, 0.25f, false, null));
        Assert.Same(x, F.DropPath(x, 0.25f, false, null));
    }
}
