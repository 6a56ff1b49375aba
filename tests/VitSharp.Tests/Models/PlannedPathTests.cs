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
            // Head dim 64: the training plan saves the attention probabilities for the backward.
            "head64" => baseCfg with { ImgHeight = 48, ImgWidth = 40, EmbedDim = 128, NumHeads = 2, MlpRatio = 2 },
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

    public static TheoryData<string> TrainVariants() => ["token", "gap", "gap_nofc", "in21k", "gray_nonsquare", "misc", "sincos", "no_cls_gap", "tanh_gelu_no_qkv_bias", "head64"];

    private static VisionTransformer TrainModel(string name)
    {
        var cfg = name is "sincos" or "no_cls_gap" or "tanh_gelu_no_qkv_bias" or "head64" ? VariantConfig(name) : Fixtures.Get(name).Config;
        var model = new VisionTransformer(cfg.Validate(), new Rng(5));
        SeededWeights.Fill(model);
        model.Train();
        return model;
    }

    [Theory]
    [MemberData(nameof(TrainVariants))]
    public void Planned_training_step_gives_the_autograd_gradients(string name)
    {
        var planned = TrainModel(name);
        var general = TrainModel(name);
        Assert.True(VitTrainStep.Supported(planned.Config));
        var cfg = planned.Config;
        int b = 3;
        var x = Tensor.RandN(new Random(11), 1f, b, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        var labels = Enumerable.Range(0, b).Select(i => (i * 5 + 1) % cfg.NumClasses).ToArray();
        var ps = new VitTrainStep(planned, b + 1);
        var gs = new VitTrainStep(general, b + 1, general: true);
        Assert.True(ps.IsPlanned);
        Assert.False(gs.IsPlanned);
        for (int round = 0; round < (cfg.NumClasses > 1 ? 2 : 1); round++)
        {
            // Round 1 uses soft targets, as mixup/cutmix give them; round 0 hard labels with smoothing.
            float lp, lg;
            if (round == 0)
            {
                lp = ps.ForwardBackward(x, labels, 0.1f);
                lg = gs.ForwardBackward(x, labels, 0.1f);
            }
            else
            {
                var soft = Tensor.Full(0.5f / (cfg.NumClasses - 1), b, cfg.NumClasses);
                for (int i = 0; i < b; i++) soft.AsSpan()[i * cfg.NumClasses + labels[i]] = 0.5f;
                lp = ps.ForwardBackward(x, soft);
                lg = gs.ForwardBackward(x, soft);
            }
            Assert.Equal(lg, lp, 4);
            Assert.True(Fixtures.MaxAbsDiff(ps.Logits, gs.Logits) <= 1e-4f);
            foreach (var ((pn, pp), (_, gp)) in planned.NamedParameters().Zip(general.NamedParameters()))
            {
                Assert.NotNull(pp.Grad);
                Assert.NotNull(gp.Grad);
                float scale = Math.Max(1e-3f, gp.Grad!.ToArray().Max(Math.Abs));
                float diff = Fixtures.MaxAbsDiff(pp.Grad!, gp.Grad);
                Assert.True(diff <= 2e-4f * scale, $"{name} {pn}: max |Δ| {diff} (max |g| {scale})");
            }
        }
    }

    [Fact]
    public void Frozen_backbone_trains_only_the_head()
    {
        var planned = TrainModel("in21k");
        var general = TrainModel("in21k");
        foreach (var m in new[] { planned, general })
            foreach (var (n, p) in m.NamedParameters()) p.RequiresGrad = n.StartsWith("head", StringComparison.Ordinal) || n.StartsWith("pre_logits", StringComparison.Ordinal);
        var cfg = planned.Config;
        var x = Tensor.RandN(new Random(2), 1f, 2, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        int[] labels = [1, 2];
        new VitTrainStep(planned, 2).ForwardBackward(x, labels);
        new VitTrainStep(general, 2, general: true).ForwardBackward(x, labels);
        foreach (var ((n, pp), (_, gp)) in planned.NamedParameters().Zip(general.NamedParameters()))
        {
            if (!pp.RequiresGrad) { Assert.Null(pp.Grad); continue; }
            Assert.True(Fixtures.MaxAbsDiff(pp.Grad!, gp.Grad!) <= 1e-5f, n);
        }
    }

    [Fact]
    public void Last_block_for_the_class_token_only_handles_partly_frozen_layers()
    {
        // Token pooling: the last block runs its query, proj and MLP for the class token alone. Freezing the last
        // qkv weight (its bias still trained) takes the bias-only path on the strided key/value gradient rows.
        var planned = TrainModel("token");
        var general = TrainModel("token");
        int last = planned.Config.Depth - 1;
        foreach (var m in new[] { planned, general })
            foreach (var (n, p) in m.NamedParameters())
                p.RequiresGrad = n != $"blocks.{last}.attn.qkv.weight" && n != $"blocks.{last}.mlp.fc1.bias" && n != "blocks.0.norm1.weight";
        Assert.Equal(3, planned.NamedParameters().Count(p => !p.Param.RequiresGrad));
        var cfg = planned.Config;
        var x = Tensor.RandN(new Random(6), 1f, 2, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        int[] labels = [1, 0];
        float lp = new VitTrainStep(planned, 2).ForwardBackward(x, labels);
        float lg = new VitTrainStep(general, 2, general: true).ForwardBackward(x, labels);
        Assert.Equal(lg, lp, 4);
        foreach (var ((n, pp), (_, gp)) in planned.NamedParameters().Zip(general.NamedParameters()))
        {
            if (!pp.RequiresGrad) { Assert.Null(pp.Grad); continue; }
            float scale = Math.Max(1e-3f, gp.Grad!.ToArray().Max(Math.Abs));
            Assert.True(Fixtures.MaxAbsDiff(pp.Grad!, gp.Grad) <= 2e-4f * scale, n);
        }
    }

    [Fact]
    public void Unsupported_configurations_fall_back_and_bad_input_is_refused()
    {
        Assert.False(VitTrainStep.Supported(Fixtures.Get("distilled").Config));
        Assert.False(VitTrainStep.Supported(Fixtures.Get("token").Config with { DropPathRate = 0.1f }));
        var model = TrainModel("token");
        var step = new VitTrainStep(model, 2);
        var cfg = model.Config;
        var x = Tensor.Zeros(2, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        Assert.Throws<VitException>(() => step.ForwardBackward(x, [0, cfg.NumClasses]));
        Assert.Throws<ShapeException>(() => step.ForwardBackward(x, [0]));
        Assert.Throws<ShapeException>(() => step.ForwardBackward(Tensor.Zeros(3, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth), [0, 1, 2]));
    }

    [Fact]
    public void Trainer_adapter_uses_the_plans_and_repacks_after_training()
    {
        var model = TrainModel("token");
        var adapter = new VitSharp.Training.ModuleTrainModel(model);
        var cfg = model.Config;
        var x = Tensor.RandN(new Random(4), 1f, 2, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        int[] labels = [0, 1];
        Assert.True(adapter.TryForwardBackward(x, labels, null, 0, out float loss, out var logits));
        Assert.True(float.IsFinite(loss));
        Assert.Equal(new[] { 2, cfg.NumClasses }, logits.Shape);
        adapter.Eval();
        float[] before;
        using (Graph.NoGrad()) before = adapter.Forward(x).ToArray();
        // A "training step" changes a weight; the next eval forward must see it.
        adapter.Train();
        ((VitSharp.Nn.Linear)model.Head).Bias!.Value.Add_(2f);
        adapter.Eval();
        Tensor expected, got;
        using (Graph.NoGrad())
        {
            expected = model.Forward(x);
            got = adapter.Forward(x);
        }
        Assert.True(Fixtures.MaxAbsDiff(got, expected) <= 1e-5f);
        Assert.Equal(before[0] + 2f, got.ToArray()[0], 4);
    }
}
