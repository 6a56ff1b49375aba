using VitSharp.Tensors;
using static VitSharp.Tests.Tensors.OpTestUtil;

namespace VitSharp.Tests.Tensors;

public class JoinIndexOpTests
{
    [Fact]
    public void Cat_joins_along_any_dim_from_any_layout()
    {
        var rng = new Rng(31);
        for (int dim = 0; dim < 3; dim++)
        {
            var s1 = new[] { 3, 4, 5 };
            var s2 = (int[])s1.Clone(); s2[dim] = 2;
            var a = Rand(rng, s1);
            var b = Rand(rng, s2);
            foreach (var (la, ta) in Layouts(a, rng))
                foreach (var (lb, tb) in Layouts(b, rng))
                {
                    var c = Tensor.Cat([ta, tb], dim - 3);
                    var expShape = (int[])s1.Clone(); expShape[dim] += 2;
                    Assert.Equal(expShape, c.Shape);
                    foreach (var i in Indices(expShape))
                    {
                        var j = (int[])i.Clone();
                        float e = i[dim] < s1[dim] ? a[i] : b[SetAt(j, dim, i[dim] - s1[dim])];
                        Assert.Equal(e, c[i]);
                    }
                }
        }
    }

    private static int[] SetAt(int[] a, int i, int v) { a[i] = v; return a; }

    [Fact]
    public void Stack_inserts_a_new_dim()
    {
        var rng = new Rng(32);
        var xs = Enumerable.Range(0, 3).Select(_ => Rand(rng, 2, 5)).ToArray();
        for (int dim = -3; dim < 3; dim++)
        {
            int d = dim < 0 ? dim + 3 : dim;
            var s = Tensor.Stack([xs[0], xs[1].T.Contiguous().T, xs[2]], dim);
            var exp = new List<int> { 2, 5 };
            exp.Insert(d, 3);
            Assert.Equal(exp.ToArray(), s.Shape);
            foreach (var i in Indices(s.Shape))
            {
                var rest = i.Where((_, k) => k != d).ToArray();
                Assert.Equal(xs[i[d]][rest], s[i]);
            }
        }
    }

    [Fact]
    public void IndexSelect_and_gather_match_reference()
    {
        var rng = new Rng(33);
        var x = Rand(rng, 4, 5, 6);
        int[] index = [3, 0, 3, 1];
        foreach (var (l, t) in Layouts(x, rng))
        {
            var y = t.IndexSelect(1, index);
            Assert.Equal([4, 4, 6], y.Shape);
            foreach (var i in Indices(y.Shape)) Assert.Equal(x[i[0], index[i[1]], i[2]], y[i]);

            var gi = Tensor.Empty(3, 2, 6);
            var gs = gi.AsSpan();
            for (int k = 0; k < gs.Length; k++) gs[k] = rng.NextInt(5);
            var g = t.Gather(1, gi);
            Assert.Equal([3, 2, 6], g.Shape);
            foreach (var i in Indices(g.Shape)) Assert.Equal(x[i[0], (int)gi[i], i[2]], g[i]);
        }
    }

    [Fact]
    public void Join_and_index_errors_name_the_op_and_shapes()
    {
        Assert.Equal("cat: shapes [2, 3] and [2, 4] differ outside dimension 0",
            Assert.Throws<ShapeException>(() => Tensor.Cat([Tensor.Ones(2, 3), Tensor.Ones(2, 4)], 0)).Message);
        Assert.Equal("stack: shapes [2, 3] and [3, 2] differ",
            Assert.Throws<ShapeException>(() => Tensor.Stack([Tensor.Ones(2, 3), Tensor.Ones(3, 2)], 0)).Message);
        Assert.Equal("index_select: index 5 out of range for dimension 1 of shape [2, 3]",
            Assert.Throws<ShapeException>(() => Tensor.Ones(2, 3).IndexSelect(1, [0, 5])).Message);
        Assert.Equal("gather: index value 3 out of range for dimension 1 of shape [2, 3]",
            Assert.Throws<ShapeException>(() => Tensor.Ones(2, 3).Gather(1, Tensor.FromArray([0, 3], 2, 1))).Message);
        Assert.Contains("gather: index value 0.5", Assert.Throws<ShapeException>(() => Tensor.Ones(2, 3).Gather(1, Tensor.FromArray([0.5f], 1, 1))).Message, StringComparison.Ordinal);
        Assert.Equal("gather: index shape [3, 1] exceeds input shape [2, 3] in dimension 0",
            Assert.Throws<ShapeException>(() => Tensor.Ones(2, 3).Gather(1, Tensor.Zeros(3, 1))).Message);
        Assert.Contains("cat", Assert.Throws<ShapeException>(() => Tensor.Cat([], 0)).Message, StringComparison.Ordinal);
    }
}
