using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Tests.Functional;

/// <summary>F.* against PyTorch 1.13 outputs (scripts/make_functional_fixtures.py), on every SIMD level.</summary>
// Forces SIMD levels (a process-wide setting): runs in the non-parallel collection so it cannot disturb
// bit-exact tests elsewhere.
[Collection("NnGlobalState")]
public class NnFixtureTests
{
    private static readonly FunctionalFixtures Fx = FunctionalFixtures.Load();

    private static Tensor Leaf(string c, string a)
    {
        var t = Fx.Get(c, a);
        t.RequiresGrad = true;
        return t;
    }

    private static void Same(Tensor expected, Tensor actual, double atol, string what)
    {
        Assert.Equal(expected.Shape, actual.Shape);
        NnTestUtil.Close(expected.ToArray(), actual.ToArray(), atol, 1e-5, what);
    }

    [Fact]
    public void Gelu_ExactAndTanh_MatchTorch() => NnTestUtil.ForEachLevel(level =>
    {
        foreach (var tanh in new[] { false, true })
        {
            var x = Leaf("gelu", "x");
            var y = F.Gelu(x, tanh);
            Same(Fx.Get("gelu", tanh ? "y_tanh" : "y"), y, 1e-5, $"{level} gelu tanh={tanh}");
            y.Backward(Fx.Get("gelu", "g"));
            Same(Fx.Get("gelu", tanh ? "dx_tanh" : "dx"), x.Grad!, 1e-5, $"{level} gelu grad tanh={tanh}");
        }
    });

    [Fact]
    public void LayerNorm_ForwardAndBackward_MatchTorch() => NnTestUtil.ForEachLevel(level =>
    {
        var x = Leaf("layer_norm", "x");
        var w = Leaf("layer_norm", "w");
        var b = Leaf("layer_norm", "b");
        var y = F.LayerNorm(x, w, b, 1e-6f);
        Same(Fx.Get("layer_norm", "y"), y, 1e-5, $"{level} y");
        y.Backward(Fx.Get("layer_norm", "g"));
        Same(Fx.Get("layer_norm", "dx"), x.Grad!, 1e-4, $"{level} dx");
        Same(Fx.Get("layer_norm", "dw"), w.Grad!, 1e-4, $"{level} dw");
        Same(Fx.Get("layer_norm", "db"), b.Grad!, 1e-4, $"{level} db");
    });

    [Fact]
    public void GroupNorm_ForwardAndBackward_MatchTorch() => NnTestUtil.ForEachLevel(level =>
    {
        var x = Leaf("group_norm", "x");
        var w = Leaf("group_norm", "w");
        var b = Leaf("group_norm", "b");
        var y = F.GroupNorm(x, 3, w, b, 1e-5f);
        Same(Fx.Get("group_norm", "y"), y, 1e-5, $"{level} y");
        y.Backward(Fx.Get("group_norm", "g"));
        Same(Fx.Get("group_norm", "dx"), x.Grad!, 1e-4, $"{level} dx");
        Same(Fx.Get("group_norm", "dw"), w.Grad!, 1e-4, $"{level} dw");
        Same(Fx.Get("group_norm", "db"), b.Grad!, 1e-4, $"{level} db");
    });

    [Theory]
    [InlineData("attention")]
    [InlineData("attention_long")]
    public void Attention_ForwardAndBackward_MatchTorch(string c) => NnTestUtil.ForEachLevel(level =>
    {
        var q = Leaf(c, "q");
        var k = Leaf(c, "k");
        var v = Leaf(c, "v");
        float scale = (float)Fx.Case(c).GetProperty("scale").GetDouble();
        var o = F.ScaledDotProductAttention(q, k, v, scale);
        Same(Fx.Get(c, "o"), o, 1e-5, $"{level} o");
        o.Backward(Fx.Get(c, "g"));
        Same(Fx.Get(c, "dq"), q.Grad!, 1e-4, $"{level} dq");
        Same(Fx.Get(c, "dk"), k.Grad!, 1e-4, $"{level} dk");
        Same(Fx.Get(c, "dv"), v.Grad!, 1e-4, $"{level} dv");
        if (c == "attention") Same(Fx.Get(c, "p"), F.AttentionProbs(q, k, scale), 1e-5, $"{level} probs");
    });

    private static Padding2d Pad(string c)
    {
        var p = Fx.Case(c).GetProperty("pad").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return new Padding2d(p[0], p[1], p[2], p[3]);
    }

    [Theory]
    [InlineData("conv_same")]
    [InlineData("conv_patch")]
    public void Conv2d_ForwardAndBackward_MatchTorch(string c)
    {
        var x = Leaf(c, "x");
        var w = Leaf(c, "w");
        var b = Leaf(c, "b");
        int stride = Fx.Case(c).GetProperty("stride").GetInt32();
        var pad = c == "conv_same" ? Pad(c) : default;
        if (c == "conv_same") Assert.Equal(pad, Padding2d.Same(11, 10, 3, 2));
        var y = F.Conv2d(x, w, b, stride, pad);
        Same(Fx.Get(c, "y"), y, 1e-5, "y");
        y.Backward(Fx.Get(c, "g"));
        Same(Fx.Get(c, "dx"), x.Grad!, 1e-5, "dx");
        Same(Fx.Get(c, "dw"), w.Grad!, 1e-4, "dw");
        Same(Fx.Get(c, "db"), b.Grad!, 1e-4, "db");
    }

    [Fact]
    public void Conv2d_Stem7x7_MatchesTorch()
    {
        var y = F.Conv2d(Fx.Get("conv_stem", "x"), Fx.Get("conv_stem", "w"), null, 2, Pad("conv_stem"));
        Same(Fx.Get("conv_stem", "y"), y, 1e-5, "y");
    }

    [Fact]
    public void MaxPool2d_SamePadding_MatchesTorch()
    {
        Assert.Equal(Pad("maxpool_same"), Padding2d.Same(9, 8, 3, 2));
        var y = F.MaxPool2d(Fx.Get("maxpool_same", "x"), 3, 2, Pad("maxpool_same"));
        Same(Fx.Get("maxpool_same", "y"), y, 0, "y");
    }

    public static TheoryData<string> InterpCases()
    {
        var d = new TheoryData<string>();
        foreach (var p in FunctionalFixtures.Load().CaseNames())
            if (p.StartsWith("interp_", StringComparison.Ordinal) || p.StartsWith("posembed_", StringComparison.Ordinal)) d.Add(p);
        return d;
    }

    [Theory]
    [MemberData(nameof(InterpCases))]
    public void Interpolate_MatchesTorch(string c)
    {
        var e = Fx.Case(c);
        var mode = e.GetProperty("mode").GetString() == "bicubic" ? InterpolationMode.Bicubic : InterpolationMode.Bilinear;
        var expected = Fx.Get(c, "y");
        var y = F.Interpolate(Fx.Get(c, "x"), expected.Shape[2], expected.Shape[3], mode,
            e.GetProperty("align_corners").GetBoolean(), e.GetProperty("antialias").GetBoolean());
        Same(expected, y, 1e-5, c);
    }

    [Fact]
    public void CrossEntropy_LabelSmoothing_MatchesTorch()
    {
        var logits = Leaf("cross_entropy", "logits");
        var targets = Fx.Case("cross_entropy").GetProperty("targets").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var loss = F.CrossEntropy(logits, targets, 0.1f);
        Assert.Equal(Fx.Get("cross_entropy", "loss").ToArray()[0], loss.Item(), 5);
        loss.Backward();
        Same(Fx.Get("cross_entropy", "dlogits"), logits.Grad!, 1e-6, "dlogits");
    }

    [Fact]
    public void CrossEntropy_SoftTargets_MatchesTorch()
    {
        var logits = Leaf("cross_entropy_soft", "logits");
        var loss = F.CrossEntropy(logits, Fx.Get("cross_entropy_soft", "soft"));
        Assert.Equal(Fx.Get("cross_entropy_soft", "loss").ToArray()[0], loss.Item(), 5);
        loss.Backward();
        Same(Fx.Get("cross_entropy_soft", "dlogits"), logits.Grad!, 1e-6, "dlogits");
    }

    [Fact]
    public void Softmax_ExtremeLogits_MatchTorch() => NnTestUtil.ForEachLevel(level =>
    {
        var x = Fx.Get("softmax_extreme", "x");
        Same(Fx.Get("softmax_extreme", "y"), F.Softmax(x, -1), 1e-6, $"{level} softmax");
        Same(Fx.Get("softmax_extreme", "logy"), F.LogSoftmax(x, 1), 1e-3, $"{level} log_softmax");
        Same(Fx.Get("softmax_extreme", "y0"), F.Softmax(x, 0), 1e-6, $"{level} softmax dim 0");
    });
}
