using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Tests.Functional;

/// <summary>Finite-difference gradient checks for every F op's backward.</summary>
public class NnGradTests
{
    private static Tensor L(int seed, params int[] shape) => NnTestUtil.Leaf(new Rng((ulong)seed), shape);

    [Fact]
    public void Linear_Grad() => NnTestUtil.GradCheck(t => F.Linear(t[0], t[1], t[2]), [L(1, 2, 3, 5), L(2, 4, 5), L(3, 4)]);

    [Fact]
    public void Linear_NoBias_Grad() => NnTestUtil.GradCheck(t => F.Linear(t[0], t[1], null), [L(1, 7, 3), L(2, 2, 3)]);

    [Fact]
    public void LinearGelu_Grad() => NnTestUtil.GradCheck(t => F.LinearGelu(t[0], t[1], t[2]), [L(4, 3, 6), L(5, 5, 6), L(6, 5)]);

    [Fact]
    public void Gelu_Exact_Grad() => NnTestUtil.GradCheck(t => F.Gelu(t[0]), [L(7, 3, 11)], eps: 1e-3f);

    [Fact]
    public void Gelu_Tanh_Grad() => NnTestUtil.GradCheck(t => F.Gelu(t[0], true), [L(8, 3, 11)], eps: 1e-3f);

    [Fact]
    public void Tanh_Grad() => NnTestUtil.GradCheck(t => F.Tanh(t[0]), [L(9, 5, 7)], eps: 1e-3f);

    [Fact]
    public void Relu_Grad() => NnTestUtil.GradCheck(t => F.Relu(t[0]), [L(10, 5, 7)], eps: 1e-3f);

    [Theory]
    [InlineData(-1)]
    [InlineData(0)]
    [InlineData(1)]
    public void Softmax_Grad(int dim) => NnTestUtil.GradCheck(t => F.Softmax(t[0], dim), [L(11, 3, 5, 4)], eps: 1e-3f);

    [Theory]
    [InlineData(-1)]
    [InlineData(1)]
    public void LogSoftmax_Grad(int dim) => NnTestUtil.GradCheck(t => F.LogSoftmax(t[0], dim), [L(12, 3, 5, 4)], eps: 1e-3f);

    [Fact]
    public void LayerNorm_Grad() => NnTestUtil.GradCheck(t => F.LayerNorm(t[0], t[1], t[2], 1e-5f), [L(13, 2, 3, 9), L(14, 9), L(15, 9)], eps: 1e-3f);

    [Fact]
    public void LayerNorm_NoAffine_Grad() => NnTestUtil.GradCheck(t => F.LayerNorm(t[0], null, null, 1e-5f), [L(16, 4, 17)], eps: 1e-3f);

    [Fact]
    public void GroupNorm_Grad() => NnTestUtil.GradCheck(t => F.GroupNorm(t[0], 2, t[1], t[2], 1e-5f), [L(17, 2, 4, 3, 3), L(18, 4), L(19, 4)], eps: 1e-3f);

    [Fact]
    public void Attention_Grad() => NnTestUtil.GradCheck(t => F.ScaledDotProductAttention(t[0], t[1], t[2], 0.7f), [L(20, 2, 2, 5, 3), L(21, 2, 2, 5, 3), L(22, 2, 2, 5, 3)], eps: 1e-3f);

    [Fact]
    public void Attention_CrossLengths_Grad() => NnTestUtil.GradCheck(t => F.ScaledDotProductAttention(t[0], t[1], t[2], 0.5f), [L(23, 1, 2, 3, 4), L(24, 1, 2, 9, 4), L(25, 1, 2, 9, 4)], eps: 1e-3f);

    [Fact]
    public void Attention_Dropout_Grad()
    {
        // The mask is a function of the seed drawn from the Rng, so re-seeding gives the same function.
        NnTestUtil.GradCheck(t => F.ScaledDotProductAttention(t[0], t[1], t[2], 0.6f, 0.3f, new Rng(5)),
            [L(26, 1, 2, 6, 3), L(27, 1, 2, 6, 3), L(28, 1, 2, 6, 3)], eps: 1e-3f);
    }

    [Fact]
    public void AttentionProbs_Grad() => NnTestUtil.GradCheck(t => F.AttentionProbs(t[0], t[1], 0.8f), [L(29, 1, 2, 4, 3), L(30, 1, 2, 5, 3)], eps: 1e-3f);

    [Fact]
    public void Conv2d_SamePadding_Grad() =>
        NnTestUtil.GradCheck(t => F.Conv2d(t[0], t[1], t[2], 2, new Padding2d(0, 1, 1, 1)), [L(31, 2, 2, 5, 4), L(32, 3, 2, 3, 3), L(33, 3)]);

    [Fact]
    public void Conv2d_Patch_Grad() => NnTestUtil.GradCheck(t => F.Conv2d(t[0], t[1], t[2], 2, default), [L(34, 2, 2, 4, 5), L(35, 3, 2, 2, 2), L(36, 3)]);

    [Fact]
    public void MaxPool2d_Grad()
    {
        // Distinct values so no two cells tie within the finite-difference step.
        var x = Tensor.Empty(1, 2, 5, 5);
        var rng = new Rng(37);
        var perm = Enumerable.Range(0, 50).ToArray();
        rng.Shuffle(perm.AsSpan());
        for (int i = 0; i < 50; i++) x.AsSpan()[i] = perm[i] * 0.1f;
        x.RequiresGrad = true;
        NnTestUtil.GradCheck(t => F.MaxPool2d(t[0], 3, 2, new Padding2d(1, 1, 1, 1)), [x], eps: 1e-2f);
    }

    [Theory]
    [InlineData(InterpolationMode.Bilinear, false, false)]
    [InlineData(InterpolationMode.Bicubic, true, false)]
    [InlineData(InterpolationMode.Bicubic, false, true)]
    public void Interpolate_Grad(InterpolationMode mode, bool alignCorners, bool antialias) =>
        NnTestUtil.GradCheck(t => F.Interpolate(t[0], 3, 7, mode, alignCorners, antialias), [L(38, 1, 2, 5, 4)], eps: 1e-3f);

    [Fact]
    public void CrossEntropy_Grad() => NnTestUtil.GradCheck(t => F.CrossEntropy(t[0], [2, 0, 4], 0.2f), [L(39, 3, 5)], eps: 1e-3f);

    [Fact]
    public void CrossEntropy_Soft_Grad() => NnTestUtil.GradCheck(t => F.CrossEntropy(t[0], t[1]), [L(40, 3, 5), L(41, 3, 5)], eps: 1e-3f);

    [Fact]
    public void Dropout_Grad() => NnTestUtil.GradCheck(t => F.Dropout(t[0], 0.4f, true, new Rng(3)), [L(42, 4, 9)]);

    [Fact]
    public void DropPath_Grad() => NnTestUtil.GradCheck(t => F.DropPath(t[0], 0.5f, true, new Rng(4)), [L(43, 6, 2, 3)]);
}
