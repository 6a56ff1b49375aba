using VitSharp.Autograd;
using VitSharp.Checkpoints;
using VitSharp.Models;
using VitSharp.Tensors;
using Xunit.Abstractions;

namespace VitSharp.Tests.Models;

/// <summary>Weights loaded through the checkpoint readers and key maps (every format the fixtures hold) give the
/// PyTorch reference logits.</summary>
public class PretrainedTests(ITestOutputHelper output)
{
    private const float Tol = 1e-4f;

    [Theory]
    [InlineData("token", "safetensors", CheckpointNaming.Timm)]
    [InlineData("token", "pth", CheckpointNaming.Timm)]
    [InlineData("token", "npz", CheckpointNaming.Google)]
    [InlineData("token", "hf", CheckpointNaming.HuggingFace)]
    [InlineData("in21k", "pth", CheckpointNaming.Timm)]
    [InlineData("in21k", "npz", CheckpointNaming.Google)]
    [InlineData("hybrid", "npz", CheckpointNaming.Google)]
    [InlineData("hybrid", "safetensors", CheckpointNaming.Timm)]
    [InlineData("resample", "npz", CheckpointNaming.Google)]
    [InlineData("torchvision", "pth", CheckpointNaming.TorchVision)]
    public void Every_format_loads_and_matches_pytorch(string name, string format, CheckpointNaming naming)
    {
        var c = Fixtures.Get(name);
        var model = new VisionTransformer(c.Config, initialize: false);
        var report = Pretrained.Load(model, Fixtures.PathOf(c.Files[format]), new PretrainedOptions { Strict = true });
        Assert.Equal(naming, report.Naming);
        Assert.Empty(report.Missing);
        Assert.Empty(report.Unexpected);
        Assert.Empty(report.Dropped);
        Assert.Equal(model.StateDict().Count, report.Loaded.Count);
        var io = Fixtures.ReadSafetensors(c.Io);
        if (name == "resample")
        {
            Assert.Equal("pos_embed 4x4 -> 6x8 (TimmNpzBilinear)", Assert.Single(report.Resampled));
            Assert.True(Fixtures.MaxAbsDiff(model.StateDict()["pos_embed"], io["pos_embed"]) <= 1e-6f);
        }
        else Assert.Empty(report.Resampled);
        model.Eval();
        using var _ = Graph.NoGrad();
        float diff = Fixtures.MaxAbsDiff(model.Forward(io["input"]), io["logits"]);
        output.WriteLine($"{name}.{format}: max |Δ| = {diff}");
        Assert.True(diff <= Tol, $"{name}.{format}: max |Δ| = {diff}");
    }

    [Fact]
    public void Different_class_count_drops_head_and_unused_pre_logits()
    {
        var c = Fixtures.Get("in21k");
        var model = new VisionTransformer(c.Config with { NumClasses = 5, RepresentationSize = null }, new Rng(9));
        var freshHead = model.StateDict()["head.weight"].ToArray();
        var report = Pretrained.Load(model, Fixtures.PathOf(c.Files["pth"]), new PretrainedOptions { Strict = true });
        Assert.Equal(["pre_logits.fc.weight", "pre_logits.fc.bias", "head.weight", "head.bias"], report.Dropped.Order(StringComparer.Ordinal).Reverse().OrderBy(k => k.StartsWith("head", StringComparison.Ordinal)));
        Assert.Empty(report.Missing);
        Assert.Equal(freshHead, model.StateDict()["head.weight"].ToArray());
        var src = Fixtures.ReadSafetensors(c.Files["safetensors"]);
        Assert.Equal(src["blocks.1.attn.qkv.weight"].ToArray(), model.StateDict()["blocks.1.attn.qkv.weight"].ToArray());
        Assert.Contains(report.Describe(), l => l.StartsWith("dropped", StringComparison.Ordinal));
    }

    [Fact]
    public void Keeping_the_head_makes_a_class_mismatch_an_error_naming_both_shapes()
    {
        var c = Fixtures.Get("token");
        var model = new VisionTransformer(c.Config with { NumClasses = 5 });
        var e = Assert.Throws<VitException>(() => Pretrained.Load(model, Fixtures.PathOf(c.Files["safetensors"]),
            new PretrainedOptions { DropMismatchedHead = false, Strict = true }));
        Assert.Contains("head.weight", e.Message, StringComparison.Ordinal);
        Assert.Contains("[5, 24]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[10, 24]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Rgb_patch_embedding_is_adapted_to_one_channel()
    {
        var c = Fixtures.Get("token");
        var model = new VisionTransformer(c.Config with { InChans = 1 }, initialize: false);
        var report = Pretrained.Load(model, Fixtures.PathOf(c.Files["safetensors"]), new PretrainedOptions { Strict = true });
        Assert.Single(report.Adapted);
        var src = Fixtures.ReadSafetensors(c.Files["safetensors"])["patch_embed.proj.weight"];
        var w = model.StateDict()["patch_embed.proj.weight"];
        Assert.Equal([24, 1, 4, 4], w.Shape);
        Assert.Equal(src[5, 0, 1, 2] + src[5, 1, 1, 2] + src[5, 2, 1, 2], w[5, 0, 1, 2], 5);
    }

    [Fact]
    public void Own_checkpoint_round_trips_config_and_weights()
    {
        var c = Fixtures.Get("distilled");
        var model = new VisionTransformer(c.Config with { Name = "tiny_distilled_test" }, new Rng(5));
        var path = Path.Combine(Path.GetTempPath(), $"vitsharp-model-{Guid.NewGuid():N}.safetensors");
        try
        {
            Pretrained.Save(model, path, ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j"]);
            var (loaded, report) = Pretrained.Create(path, options: new PretrainedOptions { Strict = true });
            Assert.True(model.Config.SameArchitecture(loaded.Config));
            Assert.Equal(model.StateDict().Count, report.Loaded.Count);
            foreach (var (k, v) in model.StateDict()) Assert.Equal(v.ToArray(), loaded.StateDict()[k].ToArray());
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void Architecture_is_detected_from_a_plain_state_dict()
    {
        var c = Fixtures.Get("in21k");
        var (model, report) = Pretrained.Create(Fixtures.PathOf(c.Files["pth"]), options: new PretrainedOptions { Strict = true });
        Assert.Equal(24, model.Config.EmbedDim);
        Assert.Equal(2, model.Config.Depth);
        Assert.Equal(24, model.Config.RepresentationSize);
        Assert.Equal(30, model.Config.NumClasses);
        Assert.Equal(model.StateDict().Count, report.Loaded.Count);
    }

    [Fact]
    public void Class_token_checkpoint_into_a_prefix_free_gap_model()
    {
        var c = Fixtures.Get("token");
        var model = new VisionTransformer(c.Config with { ClassToken = false, GlobalPool = GlobalPool.Avg, FcNorm = false }, initialize: false);
        var report = Pretrained.Load(model, Fixtures.PathOf(c.Files["safetensors"]));
        Assert.Equal(["cls_token"], report.Unexpected);
        Assert.Empty(report.Missing);
        var src = Fixtures.ReadSafetensors(c.Files["safetensors"])["pos_embed"];
        Assert.Equal(src.Narrow(1, 1, 16).Contiguous().ToArray(), model.StateDict()["pos_embed"].ToArray());
    }

    [Fact]
    public void Hugging_face_files_get_hf_layer_norm_eps()
    {
        var (model, report) = Pretrained.Create(Fixtures.PathOf(Fixtures.Get("token").Files["hf"]), options: new PretrainedOptions { Strict = true });
        Assert.Equal(CheckpointNaming.HuggingFace, report.Naming);
        Assert.Equal(1e-12f, model.Config.LayerNormEps);
        Assert.Equal(GlobalPool.Token, model.Config.GlobalPool);
    }
}
