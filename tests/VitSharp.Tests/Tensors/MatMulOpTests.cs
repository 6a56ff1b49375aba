using VitSharp.Tensors;
using static VitSharp.Tests.Tensors.OpTestUtil;

namespace VitSharp.Tests.Tensors;

public class MatMulOpTests
{
    /// <summary>torch.matmul reference with double accumulation (handles batch broadcasting, not rank 1).</summary>
    private static float[] Ref(Tensor a, Tensor b, out int[] shape)
    {
        int m = a.Shape[^2], k = a.Shape[^1], n = b.Shape[^1];
        var batch = Tensor.BroadcastShapes(a.Shape[..^2], b.Shape[..^2], "ref");
        shape = [.. batch, m, n];
        var r = new List<float>();
        foreach (var bi in Indices(batch))
        {
            for (int i = 0; i < m; i++)
                for (int j = 0; j < n; j++)
                {
                    double acc = 0;
                    for (int p = 0; p < k; p++)
                        acc += (double)AtBroadcast(a, [.. bi, i, p]) * AtBroadcast(b, [.. bi, p, j]);
                    r.Add((float)acc);
                }
        }
        return [.. r];
    }

    public static TheoryData<int[], int[]> Cases => new()
    {
        { [1, 1], [1, 1] },
        { [7, 13], [13, 5] },
        { [17, 1], [1, 23] },
        { [3, 29], [29, 1] },
        { [2, 3, 7, 11], [11, 6] },      // folds to one GEMM
        { [2, 3, 7, 11], [3, 11, 6] },   // b broadcast over the first batch dim
        { [2, 1, 5, 4], [3, 4, 2] },     // both broadcast
        { [4, 9, 8], [4, 8, 10] },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatMul_matches_reference_for_all_layouts(int[] sa, int[] sb)
    {
        var rng = new Rng(21);
        var a = Rand(rng, sa);
        var b = Rand(rng, sb);
        var expected = Ref(a, b, out var shape);
        foreach (var (la, ta) in Layouts(a, rng))
            foreach (var (lb, tb) in Layouts(b, rng))
            {
                var c = Tensor.MatMul(ta, tb);
                Assert.Equal(shape, c.Shape);
                AssertClose(expected, c, 1e-5, 1e-5, $"{Tensor.ShapeToString(sa)}({la}) @ {Tensor.ShapeToString(sb)}({lb})");
            }
    }

    [Fact]
    public void Transposed_views_and_rank_one_operands()
    {
        var rng = new Rng(22);
        var x = Rand(rng, 6, 9);
        var w = Rand(rng, 4, 9);   // Linear weight (out, in): x @ wᵀ is an NT product
        var expected = Ref(x, w.T.Contiguous(), out _);
        AssertClose(expected, Tensor.MatMul(x, w.T), 1e-5, 1e-5, "x @ w.T");
        AssertClose(Ref(x.T.Contiguous(), x, out _), Tensor.MatMul(x.T, x), 1e-5, 1e-5, "x.T @ x (TN)");
        var heads = Rand(rng, 2, 3, 5, 4);
        AssertClose(Ref(heads, heads.Transpose(-2, -1).Contiguous(), out _), Tensor.MatMul(heads, heads.Transpose(-2, -1)), 1e-5, 1e-5, "q @ k.T batched");

        var v = Rand(rng, 9);
        var mv = Tensor.MatMul(x, v);
        Assert.Equal([6], mv.Shape);
        AssertClose(Ref(x, v.Reshape(9, 1), out _), mv, 1e-5, 1e-5, "matrix @ vector");
        var u = Rand(rng, 6);
        var vm = Tensor.MatMul(u, x);
        Assert.Equal([9], vm.Shape);
        AssertClose(Ref(u.Reshape(1, 6), x, out _), vm, 1e-5, 1e-5, "vector @ matrix");
        var dot = Tensor.MatMul(v, v);
        Assert.Empty(dot.Shape);
        AssertClose((float)v.ToArray().Sum(e => (double)e * e), dot.Item(), 1e-5, 1e-6, "dot");
        var bv = Tensor.MatMul(heads, Rand(rng, 4));
        Assert.Equal([2, 3, 5], bv.Shape);
        // Expanded (stride-0) matrices are copied, not misread.
        var e = Rand(rng, 1, 9).Expand(6, 9);
        AssertClose(Ref(e.Contiguous(), x.T.Contiguous(), out _), Tensor.MatMul(e, x.T), 1e-5, 1e-5, "expanded @ x.T");
    }

    [Fact]
    public void Empty_inner_dimension_gives_zeros()
    {
        var c = Tensor.MatMul(Tensor.Ones(3, 0), Tensor.Ones(0, 4));
        Assert.Equal([3, 4], c.Shape);
        Assert.All(c.ToArray(), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void MatMul_errors_name_op_and_both_shapes()
    {
        Assert.Equal("matmul: [2, 3] @ [4, 5]: inner dimensions 3 and 4 differ",
            Assert.Throws<ShapeException>(() => Tensor.MatMul(Tensor.Ones(2, 3), Tensor.Ones(4, 5))).Message);
        Assert.Equal("matmul: [2, 3, 4] @ [5, 4, 6]: batch dimensions [2] and [5] cannot be broadcast",
            Assert.Throws<ShapeException>(() => Tensor.MatMul(Tensor.Ones(2, 3, 4), Tensor.Ones(5, 4, 6))).Message);
        Assert.Contains("[3] @ [4]", Assert.Throws<ShapeException>(() => Tensor.MatMul(Tensor.Ones(3), Tensor.Ones(4))).Message, StringComparison.Ordinal);
        Assert.Contains("matmul", Assert.Throws<ShapeException>(() => Tensor.MatMul(Tensor.Scalar(1), Tensor.Ones(4))).Message, StringComparison.Ordinal);
    }
}
