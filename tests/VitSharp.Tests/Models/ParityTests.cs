using VitSharp.Autograd;
using VitSharp.Models;
using VitSharp.Tensors;
using Xunit.Abstractions;

namespace VitSharp.Tests.Models;

/// <summary>Logits of our VisionTransformer vs the PyTorch reference (scripts/make_model_fixtures.py), loaded
/// from the timm-named safetensors of each case.</summary>
public class ParityTests(ITestOutputHelper output)
{
    private const float Tol = 1e-4f;

    public static TheoryData<string> TimmCases() =>
        ["token", "gap", "gap_nofc", "distilled", "in21k", "gray_nonsquare", "misc", "features", "hybrid"];

    internal static VisionTransformer LoadCase(string name)
    {
        var c = Fixtures.Get(name);
        var model = new VisionTransformer(c.Config, new Rng(1));
        var sd = Fixtures.ReadSafetensors(c.Files["safetensors"]);
        var report = model.LoadStateDict(sd, strict: true);
        Assert.True(report.IsClean);
        model.Eval();
        return model;
    }

    [Theory]
    [MemberData(nameof(TimmCases))]
    public void Logits_match_pytorch(string name)
    {
        var model = LoadCase(name);
        var io = Fixtures.ReadSafetensors(Fixtures.Get(name).Io);
        using var _ = Graph.NoGrad();
        var y = model.Forward(io["input"]);
        float diff = Fixtures.MaxAbsDiff(y, io["logits"]);
        output.WriteLine($"{name}: max |Δ| = {diff}");
        Assert.True(diff <= Tol, $"{name}: max |Δ| = {diff}");
    }

    [Fact]
    public void Distilled_train_forward_returns_both_heads()
    {
        var model = LoadCase("distilled");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("distilled").Io);
        using var _ = Graph.NoGrad();
        var (cls, dist) = model.ForwardTrain(io["input"]);
        Assert.NotNull(dist);
        Assert.True(Fixtures.MaxAbsDiff(cls, io["logits_cls"]) <= Tol);
        Assert.True(Fixtures.MaxAbsDiff(dist!, io["logits_dist"]) <= Tol);
    }

    [Fact]
    public void Attention_maps_match_pytorch()
    {
        var model = LoadCase("token");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("token").Io);
        var expected = io["attn"]; // (depth, B, H, N, N)
        using var _ = Graph.NoGrad();
        var (logits, perHead) = model.ForwardWithAttention(io["input"], averageHeads: false);
        Assert.True(Fixtures.MaxAbsDiff(logits, io["logits"]) <= Tol);
        Assert.Equal(model.Config.Depth, perHead.Count);
        var (_, averaged) = model.ForwardWithAttention(io["input"], averageHeads: true);
        for (int l = 0; l < perHead.Count; l++)
        {
            var e = expected.Select(0, l);
            Assert.True(Fixtures.MaxAbsDiff(perHead[l], e) <= 1e-5f);
            Assert.True(Fixtures.MaxAbsDiff(averaged[l], e.Mean(1)) <= 1e-5f);
        }
    }

    [Fact]
    public void Training_mode_without_dropout_equals_eval()
    {
        var model = LoadCase("token");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("token").Io);
        model.Train();
        using var _ = Graph.NoGrad();
        Assert.True(Fixtures.MaxAbsDiff(model.Forward(io["input"]), io["logits"]) <= Tol);
    }

    [Fact]
    public void Backward_reaches_every_parameter()
    {
        var model = LoadCase("token");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("token").Io);
        model.Train();
        var loss = F.CrossEntropy(model.Forward(io["input"]), [1, 7]);
        loss.Backward();
        foreach (var (name, p) in model.NamedParameters())
        {
            Assert.True(p.Grad != null, $"{name} got no gradient");
            Assert.Equal(p.Shape, p.Grad!.Shape);
        }
        model.ZeroGrad();
        Assert.All(model.Parameters(), p => Assert.Null(p.Grad));
    }
}
