using VitSharp.Tensors;
using static VitSharp.Tests.Tensors.OpTestUtil;

namespace VitSharp.Tests.Tensors;

public class ReductionOpTests
{
    private static readonly int[][] Shapes = [[5, 7, 9], [3, 131], [1], [], [2, 1, 3, 35], [4, 0, 3]];

    [Fact]
    public void Sum_and_mean_of_all_elements()
    {
        var rng = new Rng(1);
        foreach (var shape in Shapes)
        {
            var x = Rand(rng, shape);
            double s = x.ToArray().Sum(v => (double)v);
            foreach (var (l, t) in Layouts(x, rng))
                AtEachLevel(level =>
                {
                    var y = t.Sum();
                    Assert.Empty(y.Shape);
                    AssertClose((float)s, y.Item(), 1e-6, 1e-6, $"sum {Tensor.ShapeToString(shape)} {l} {level}");
                    if (x.Numel > 0) AssertClose((float)(s / x.Numel), t.Mean().Item(), 1e-6, 1e-6, $"mean {l}");
                });
        }
    }

    [Fact]
    public void Sum_and_mean_over_each_dim_with_and_without_keepdim()
    {
        var rng = new Rng(2);
        foreach (var shape in Shapes)
        {
            if (shape.Length == 0) continue;
            var x = Rand(rng, shape);
            for (int dim = -shape.Length; dim < shape.Length; dim++)
            {
                int d = dim < 0 ? dim + shape.Length : dim;
                var keep = (int[])shape.Clone();
                keep[d] = 1;
                var expected = Indices(keep).Select(i =>
                {
                    double acc = 0;
                    for (int k = 0; k < shape[d]; k++) { var j = (int[])i.Clone(); j[d] = k; acc += x[j]; }
                    return acc;
                }).ToArray();
                var dropped = shape.Where((_, i) => i != d).ToArray();
                foreach (var (l, t) in Layouts(x, rng))
                    AtEachLevel(level =>
                    {
                        var s = t.Sum(dim);
                        Assert.Equal(dropped, s.Shape);
                        AssertClose(expected.Select(v => (float)v).ToArray(), s, 1e-6, 1e-6, $"sum dim {dim} of {Tensor.ShapeToString(shape)} {l} {level}");
                        var sk = t.Sum(dim, keepDim: true);
                        Assert.Equal(keep, sk.Shape);
                        if (shape[d] > 0)
                        {
                            var m = t.Mean(dim, keepDim: true);
                            AssertClose(expected.Select(v => (float)(v / shape[d])).ToArray(), m, 1e-6, 1e-6, $"mean dim {dim} {l}");
                        }
                    });
            }
        }
    }

    [Fact]
    public void Long_sums_stay_accurate()
    {
        // 10^6 copies of 0.1f: naive float accumulation drifts by ~1%; blocked/double accumulation does not.
        var x = Tensor.Full(0.1f, 1_000_000);
        double exact = 1_000_000 * (double)0.1f;
        AtEachLevel(level => AssertClose((float)exact, x.Sum().Item(), 1e-6, 0, $"sum at {level}"));
        var cols = Tensor.Full(0.1f, 100_000, 3);
        AtEachLevel(level => AssertClose(Enumerable.Repeat((float)(100_000 * (double)0.1f), 3).ToArray(), cols.Sum(0), 1e-6, 0, $"col sum at {level}"));
    }

    [Fact]
    public void Max_and_argmax_pick_the_first_maximum()
    {
        var x = Tensor.FromArray([1, 5, 5, 2, /**/ 7, 7, 0, 7, /**/ -1, -3, -2, -1], 3, 4);
        Assert.Equal([1, 0, 0], x.ArgMax(1));
        Assert.Equal([5f, 7, -1], x.Max(1).ToArray());
        Assert.Equal([1, 1, 0, 1], x.ArgMax(0));
        Assert.Equal([7f, 7, 5, 7], x.Max(0).ToArray());
        Assert.Equal([3, 1], x.Max(-1, keepDim: true).Shape);
        Assert.Equal([1, 0, 0], x.T.ArgMax(0));

        var n = Tensor.FromArray([1, float.NaN, 3], 1, 3);
        Assert.True(float.IsNaN(n.Max(1).Item()));
        Assert.Equal([1], n.ArgMax(1));
    }

    [Fact]
    public void Max_matches_reference_on_random_layouts()
    {
        var rng = new Rng(3);
        var x = Rand(rng, 4, 6, 37);
        // Ties and a NaN across rows of the outer-dim reductions (first max wins, NaN propagates).
        x[1, 2, 3] = x[3, 2, 3] = 9f;
        x[0, 0, 20] = x[0, 5, 20] = 9f;
        x[2, 4, 30] = float.NaN;
        for (int d = 0; d < 3; d++)
        {
            var keep = (int[])x.Shape.Clone();
            keep[d] = 1;
            var expV = new List<float>();
            var expI = new List<int>();
            foreach (var i in Indices(keep))
            {
                float best = float.NegativeInfinity; int bi = -1;
                for (int k = 0; k < x.Shape[d]; k++)
                {
                    var j = (int[])i.Clone(); j[d] = k;
                    if (float.IsNaN(best)) break;
                    if (x[j] > best || float.IsNaN(x[j])) { best = x[j]; bi = k; }
                }
                expV.Add(best); expI.Add(bi);
            }
            foreach (var (l, t) in Layouts(x, rng))
                AtEachLevel(level =>
                {
                    Assert.Equal(expV.ToArray(), t.Max(d).ToArray());
                    Assert.Equal(expI.ToArray(), t.ArgMax(d));
                });
        }
    }

    [Fact]
    public void Long_rows_and_columns_at_every_simd_level()
    {
        var rng = new Rng(5);
        // Rows longer than every vector width, with ties (first wins) and a NaN row.
        var x = Rand(rng, 4, 101);
        x[0, 37] = 5; x[0, 90] = 5;
        x[1, 100] = 7;
        x[2, 3] = float.NaN; x[2, 50] = 9;
        x[3, 16] = 2; x[3, 15] = 2;
        AtEachLevel(level =>
        {
            Assert.Equal([37, 100, 3, 15], x.ArgMax(1));
            var m = x.Max(1).ToArray();
            Assert.Equal(5f, m[0]); Assert.Equal(7f, m[1]); Assert.True(float.IsNaN(m[2])); Assert.Equal(2f, m[3]);
        });
        // Column sums spanning several row blocks and column tiles (64/32-wide + tail).
        var c = Rand(rng, 300, 101);
        var expected = Enumerable.Range(0, 101).Select(j => (float)Enumerable.Range(0, 300).Sum(i => (double)c[i, j])).ToArray();
        // Float partials over short row blocks: error bounded by ~1e-7 of Σ|x| (≈ 150 here), far below naive drift.
        AtEachLevel(level => AssertClose(expected, c.Sum(0), 1e-6, 2e-5, $"column sums at {level}"));
        AtEachLevel(level => AssertClose(expected.Select(v => v / 300).ToArray(), c.Mean(0), 1e-6, 1e-7, $"column means at {level}"));
    }

    [Fact]
    public void Reduction_errors_name_the_op()
    {
        var x = Tensor.Ones(2, 3);
        Assert.Equal("sum: dimension 2 out of range for shape [2, 3]", Assert.Throws<ShapeException>(() => x.Sum(2)).Message);
        Assert.Contains("max", Assert.Throws<ShapeException>(() => x.Max(-3)).Message, StringComparison.Ordinal);
        Assert.Contains("argmax", Assert.Throws<ShapeException>(() => x.ArgMax(5)).Message, StringComparison.Ordinal);
        Assert.Contains("empty", Assert.Throws<ShapeException>(() => Tensor.Zeros(2, 0).Max(1)).Message, StringComparison.Ordinal);
    }

    [Fact]
    public void SumToShape_reduces_every_broadcast_pattern()
    {
        var rng = new Rng(4);
        var g = Rand(rng, 3, 4, 5, 6);
        int[][] targets = [[6], [5, 6], [4, 1, 6], [3, 1, 1, 1], [1, 4, 5, 1], [3, 4, 5, 6], [1], [1, 1, 5, 1], [4, 5, 1]];
        foreach (var target in targets)
        {
            var expected = new double[Tensor.CheckedNumel(target)];
            var ts = Tensor.ContiguousStrides(target);
            foreach (var i in Indices(g.Shape))
            {
                int lead = g.Rank - target.Length, o = 0;
                for (int k = 0; k < target.Length; k++) o += (target[k] == 1 ? 0 : i[k + lead]) * ts[k];
                expected[o] += g[i];
            }
            foreach (var (l, t) in Layouts(g, rng))
                AtEachLevel(level =>
                {
                    var r = Tensor.SumToShape(t, target);
                    Assert.Equal(target, r.Shape);
                    AssertClose(expected.Select(v => (float)v).ToArray(), r, 1e-5, 1e-5, $"sum_to {Tensor.ShapeToString(target)} {l} {level}");
                });
        }
    }
}
