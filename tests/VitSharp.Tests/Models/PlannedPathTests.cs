using VitSharp.Autograd;
using VitSharp.Models;
using VitSharp.Tensors;
using Xunit.Abstractions;

namespace VitSharp.Tests.Models;

/// <summary>The planned inference path (<see cref="VitInference"/>) against PyTorch and against the module forward.</summary>
public class PlannedPathTests(ITestOutputHelper output)
{
    [Theory]
    [MemberData(nameof(ParityTests.TimmCases), MemberType = typeof(ParityTests))]
    public void Planned_inference_matches_pytorch(string name)
    {
        var model = ParityTests.LoadCase(name);
        var io = Fixtures.ReadSafetensors(Fixtures.Get(name).Io);
        var input = io["input"];
        // Planned for a larger batch than it runs: buffers are sized for the maximum, any smaller batch works.
        var plan = new VitInference(model, input.Shape[0] + 2);
        Assert.Equal(name != "hybrid", plan.IsPlanned);
        var y = plan.Run(input);
        float diff = Fixtures.MaxAbsDiff(y, io["logits"]);
        output.WriteLine($"{name}: {plan.PathName}, max |Δ| = {diff}");
        Assert.True(diff <= 1e-4f, $"{name}: max |Δ| = {diff}");
        var again = plan.Run(input).ToArray();
        Assert.Equal(y.ToArray(), again); // deterministic, buffers fully rewritten
    }

    public static TheoryData<string> Variants() => ["sincos", "no_cls_gap", "tanh_gelu_no_qkv_bias", "features", "gray_nonsquare_in21k"];

    private static VitConfig VariantConfig(string v)
    {
        var baseCfg = new VitConfig { ImgHeight = 32, ImgWidth = 32, PatchSize = 8, EmbedDim = 48, Depth = 2, NumHeads = 3, NumClasses = 7 };
        return v switch
        {
            "sincos" => baseCfg with { PosEmbed = PosEmbedKind.Sincos },
            "no_cls_gap" => baseCfg with { ClassToken = false, GlobalPool = GlobalPool.Avg },
            "tanh_gelu_no_qkv_bias" => baseCfg with { Gelu = GeluKind.Tanh, QkvBias = false, MlpRatio = 3 },
            "features" => baseCfg with { NumClasses = 0 },
            "gray_nonsquare_in21k" => baseCfg with { InChans = 1, ImgHeight = 24, ImgWidth = 40, RepresentationSize = 20 },
            _ => throw new ArgumentException(v),
        };
    }

    [Theory]
    [MemberData(nameof(Variants))]
    public void Planned_inference_matches_the_module_forward(string variant)
    {
        var model = new VisionTransformer(VariantConfig(variant).Validate(), new Rng(5));
        SeededWeights.Fill(model);
        model.Eval();
        var cfg = model.Config;
        var x = Tensor.RandN(new Random(3), 1f, 3, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        Tensor expected;
        using (Graph.NoGrad()) expected = model.Forward(x);
        var plan = new VitInference(model, 3);
        Assert.True(Fixtures.MaxAbsDiff(plan.Run(x), expected) <= 1e-5f);
        // A single image from the batch gives that image's row.
        var one = plan.Run(x.Narrow(0, 1, 1).Contiguous());
        Assert.Equal(new[] { 1, expected.Shape[1] }, one.Shape);
        Assert.True(Fixtures.MaxAbsDiff(one, expected.Narrow(0, 1, 1)) <= 1e-5f);
    }

    [Fact]
    public void Consumed_weights_leave_one_copy_and_refuse_refresh()
    {
        var model = ParityTests.LoadCase("token");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("token").Io);
        var plan = new VitInference(model, io["input"].Shape[0], consumeWeights: true);
        Assert.Equal(0, model.Blocks.Items.Cast<VitSharp.Nn.Block>().First().Mlp.Fc1.Weight.Value.Numel);
        Assert.True(Fixtures.MaxAbsDiff(plan.Run(io["input"]), io["logits"]) <= 1e-4f);
        Assert.Throws<VitException>(plan.Refresh);
    }

    [Fact]
    public void Refresh_picks_up_changed_weights_and_bad_batches_are_refused()
    {
        var model = ParityTests.LoadCase("token");
        var io = Fixtures.ReadSafetensors(Fixtures.Get("token").Io);
        var x = io["input"];
        var plan = new VitInference(model, x.Shape[0]);
        var before = plan.Run(x).ToArray();
        var head = (VitSharp.Nn.Linear)model.Head;
        head.Bias!.Value.Add_(Tensor.Full(1f, head.OutFeatures));
        plan.Refresh();
        var after = plan.Run(x).ToArray();
        Assert.Equal(before[0] + 1f, after[0], 4);
        Assert.Throws<ShapeException>(() => plan.Run(Tensor.Zeros(x.Shape[0] + 1, x.Shape[1], x.Shape[2], x.Shape[3])));
        Assert.Throws<ShapeException>(() => plan.Run(Tensor.Zeros(1, x.Shape[1] + 1, x.Shape[2], x.Shape[3])));
    }
}
