using VitSharp.Autograd;
using VitSharp.Tensors;
using static VitSharp.Tests.GradCheck;

namespace VitSharp.Tests.Autograd;

public class OpGradTests
{
    private static Tensor LeafPos(Rng rng, float lo, float hi, params int[] shape)
    {
        var t = Tests.Tensors.OpTestUtil.RandPos(rng, lo, hi, shape);
        t.RequiresGrad = true;
        return t;
    }

    /// <summary>A leaf whose storage is laid out transposed (non-contiguous strides).</summary>
    private static Tensor LeafPermuted(Rng rng, params int[] shape)
    {
        var rev = Enumerable.Range(0, shape.Length).Reverse().ToArray();
        var stored = Tests.Tensors.OpTestUtil.Rand(rng, rev.Select(i => shape[i]).ToArray());
        var t = stored.Permute(rev);
        t.RequiresGrad = true;
        return t;
    }

    /// <summary>Values with |x| in [0.2, 1) (away from kinks at 0 for abs).</summary>
    private static Tensor LeafAwayFromZero(Rng rng, params int[] shape)
    {
        var t = Tensor.Empty(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = (0.2f + 0.8f * rng.NextFloat()) * (rng.NextFloat() < 0.5f ? -1 : 1);
        t.RequiresGrad = true;
        return t;
    }

    [Fact]
    public void Broadcast_arithmetic_gradients()
    {
        var rng = new Rng(100);
        Check(x => x[0] + x[1], [Leaf(rng, 3, 4), Leaf(rng, 4)]);
        Check(x => x[0] - x[1], [Leaf(rng, 2, 1, 3), Leaf(rng, 4, 1)]);
        Check(x => x[0] * x[1], [Leaf(rng, 2, 3, 5), Leaf(rng, 3, 1)]);
        Check(x => x[0] / x[1], [Leaf(rng, 3, 4), LeafPos(rng, 0.5f, 2f, 1, 4)]);
        Check(x => x[0] / x[1], [LeafPos(rng, 0.5f, 2f, 4), LeafPos(rng, 0.5f, 2f, 3, 4)]);
        Check(x => x[0] * x[1], [Leaf(rng), Leaf(rng, 2, 3)]);              // rank-0 operand
        Check(x => x[0] * x[1] - x[1], [LeafPermuted(rng, 3, 5), Leaf(rng, 5)]); // non-contiguous leaf
        Check(x => x[0] + 1.5f, [Leaf(rng, 3, 2)]);
        Check(x => x[0] * -2.5f, [Leaf(rng, 3, 2)]);
        Check(x => -x[0] / 3f - 1f, [Leaf(rng, 7)]);
    }

    [Fact]
    public void Unary_math_gradients()
    {
        var rng = new Rng(101);
        Check(x => x[0].Exp(), [Leaf(rng, 3, 5)]);
        Check(x => x[0].Log(), [LeafPos(rng, 0.5f, 2f, 3, 5)], eps: 1e-3f);
        Check(x => x[0].Sqrt(), [LeafPos(rng, 0.5f, 2f, 3, 5)], eps: 1e-3f);
        foreach (var p in new[] { 0f, 1f, 2f, 3f, 0.5f, -0.5f, -1f, 1.7f })
            Check(x => x[0].Pow(p), [LeafPos(rng, 0.5f, 2f, 2, 3)], eps: 1e-3f);
        Check(x => x[0].Abs(), [LeafAwayFromZero(rng, 4, 3)]);
        // Clamp: keep values away from the bounds by more than eps.
        var c = Tensor.FromArray([-0.9f, -0.6f, -0.2f, 0.1f, 0.3f, 0.8f], 2, 3);
        c.RequiresGrad = true;
        Check(x => x[0].Clamp(-0.5f, 0.5f), [c]);
        Check(x => x[0].Exp().Log(), [LeafPermuted(rng, 3, 4)]);
    }

    [Fact]
    public void Reduction_gradients()
    {
        var rng = new Rng(102);
        Check(x => x[0].Sum(), [Leaf(rng, 3, 4)]);
        Check(x => x[0].Mean(), [LeafPermuted(rng, 3, 4)]);
        for (int d = -3; d < 3; d++)
        {
            Check(x => x[0].Sum(d), [Leaf(rng, 2, 3, 4)]);
            Check(x => x[0].Mean(d, keepDim: true), [LeafPermuted(rng, 2, 3, 4)]);
        }
        // Max: distinct values spaced far more than eps apart so the argmax is stable under perturbation.
        var vals = Enumerable.Range(0, 24).Select(i => (float)((i * 7) % 24) * 0.1f).ToArray();
        var m = Tensor.FromArray(vals, 2, 3, 4);
        m.RequiresGrad = true;
        Check(x => x[0].Max(1), [m]);
        Check(x => x[0].Max(-1, keepDim: true), [m]);
        Check(x => x[0].Max(0), [m]);
    }

    [Fact]
    public void Max_gradient_goes_to_the_first_maximum_only()
    {
        var x = Tensor.FromArray([1, 3, 3, 2], 1, 4);
        x.RequiresGrad = true;
        x.Max(1).Sum().Backward();
        Assert.Equal([0f, 1, 0, 0], x.Grad!.ToArray());
    }

    [Fact]
    public void MatMul_gradients_for_transposes_batches_and_vectors()
    {
        var rng = new Rng(103);
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 3, 4), Leaf(rng, 4, 5)]);
        Check(x => Tensor.MatMul(x[0], x[1].T), [Leaf(rng, 3, 4), Leaf(rng, 5, 4)]);            // NT (Linear)
        Check(x => Tensor.MatMul(x[0].T, x[1]), [Leaf(rng, 4, 3), Leaf(rng, 4, 5)]);            // TN
        Check(x => Tensor.MatMul(x[0].T, x[1].T), [Leaf(rng, 4, 3), Leaf(rng, 5, 4)]);          // TT
        Check(x => Tensor.MatMul(x[0], x[1].T), [Leaf(rng, 2, 3, 4), Leaf(rng, 5, 4)]);         // batched x @ Wᵀ (folded)
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 2, 3, 3, 4), Leaf(rng, 3, 4, 2)]);     // batch broadcast of b
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 2, 1, 3, 4), Leaf(rng, 1, 2, 4, 2)]);  // both broadcast
        Check(x => Tensor.MatMul(x[0], x[0].Transpose(-2, -1)), [Leaf(rng, 2, 3, 4)]);          // q·qᵀ, used twice
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 4), Leaf(rng, 4, 3)]);
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 2, 3, 4), Leaf(rng, 4)]);
        Check(x => Tensor.MatMul(x[0], x[1]), [Leaf(rng, 4), Leaf(rng, 4)]);
        Check(x => Tensor.MatMul(x[0], x[1]), [LeafPermuted(rng, 3, 4), LeafPermuted(rng, 4, 2)]);
        var heads = Leaf(rng, 2, 3, 2, 4);
        Check(x => Tensor.MatMul(x[0].Permute(0, 2, 1, 3), x[1]), [heads, Leaf(rng, 2, 2, 4, 3)]); // permuted batch dims
    }

    [Fact]
    public void Join_and_index_gradients()
    {
        var rng = new Rng(104);
        Check(x => Tensor.Cat([x[0], x[1], x[0]], 1), [Leaf(rng, 2, 3), Leaf(rng, 2, 1)]);
        Check(x => Tensor.Cat([x[0].T, x[1]], 0), [LeafPermuted(rng, 3, 2), Leaf(rng, 4, 3)]);
        Check(x => Tensor.Stack([x[0], x[1]], 1), [Leaf(rng, 2, 3), Leaf(rng, 2, 3)]);
        Check(x => Tensor.Stack([x[0], x[0].Exp()], -1), [Leaf(rng, 2, 3)]);
        Check(x => x[0].IndexSelect(0, [2, 0, 2, 2]), [Leaf(rng, 3, 4)]);
        Check(x => x[0].IndexSelect(-1, [1, 1]), [LeafPermuted(rng, 3, 4)]);
        var idx = Tensor.FromArray([0, 2, 2, 1, 1, 1], 2, 3);
        Check(x => x[0].Gather(1, idx), [Leaf(rng, 2, 4)]);
        Check(x => x[0].Gather(0, Tensor.FromArray([1, 0, 1], 1, 3)), [LeafPermuted(rng, 2, 4)]);
    }

    [Fact]
    public void Gradients_flow_through_views_and_broadcasts()
    {
        var rng = new Rng(105);
        Check(x => (x[0].Narrow(1, 1, 3) * x[1].Expand(2, 3)).Permute(1, 0).Reshape(6), [Leaf(rng, 2, 5), Leaf(rng, 1, 3)]);
        Check(x => (x[0].Unsqueeze(0) + x[1].Unsqueeze(-1)).Sum(1), [Leaf(rng, 4), Leaf(rng, 3)]);
        Check(x => Tensor.MatMul(x[0].Select(0, 1), x[1]).Mean(0), [Leaf(rng, 2, 3, 4), Leaf(rng, 4, 2)]);
    }

    [Fact]
    public void Tensor_used_twice_accumulates_gradient()
    {
        var x = Tensor.FromArray([1, -2, 3], 3);
        x.RequiresGrad = true;
        (x * x + x).Sum().Backward();
        Assert.Equal([3f, -3, 7], x.Grad!.ToArray());
        // A second backward accumulates into .Grad.
        (x * 2f).Sum().Backward();
        Assert.Equal([5f, -1, 9], x.Grad!.ToArray());
        // Both operands the same tensor in every binary op.
        var y = Tensor.FromArray([2, 4], 2);
        y.RequiresGrad = true;
        (y / y + y - y).Sum().Backward();
        Assert.Equal([0f, 0], y.Grad!.ToArray());
    }

    [Fact]
    public void NoGrad_disables_recording_and_untracked_inputs_get_no_grad()
    {
        var rng = new Rng(106);
        var a = Leaf(rng, 2, 3);
        var b = Tests.Tensors.OpTestUtil.Rand(rng, 3, 2);
        using (Graph.NoGrad())
        {
            Tensor[] outs = [a + a, a * 2f, a.Exp(), a.Sum(), a.Sum(0), a.Max(1), Tensor.MatMul(a, b), Tensor.Cat([a, a], 0),
                Tensor.Stack([a, a], 0), a.IndexSelect(0, [1]), a.Gather(1, Tensor.Zeros(2, 1)), a.Abs().Clamp(0, 1).Pow(2)];
            foreach (var o in outs)
            {
                Assert.False(o.RequiresGrad);
                Assert.Null(o.Node);
            }
        }
        var y = Tensor.MatMul(a, b);
        Assert.True(y.RequiresGrad);
        Assert.NotNull(y.Node);
        y.Sum().Backward();
        Assert.NotNull(a.Grad);
        Assert.Null(b.Grad);
        // Nothing requires grad: nothing is recorded.
        var z = b * b;
        Assert.False(z.RequiresGrad);
        Assert.Null(z.Node);
    }
}
