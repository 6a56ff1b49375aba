using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

public class KeyMapTests
{
    private static List<KeyValuePair<string, Tensor>> Reference(string file = "timm.safetensors") =>
        CheckpointFile.Load(Fx.Path("tiny", file)).Tensors;

    [Theory]
    [InlineData("timm.pth", CheckpointNaming.Timm)]
    [InlineData("timm_nested.pth", CheckpointNaming.Timm)]
    [InlineData("google.npz", CheckpointNaming.Google)]
    [InlineData("google_opt_target.npz", CheckpointNaming.Google)]
    [InlineData("big_vision.npz", CheckpointNaming.GoogleBigVision)]
    [InlineData("torchvision.pth", CheckpointNaming.TorchVision)]
    [InlineData("hf.safetensors", CheckpointNaming.HuggingFace)]
    public void Every_naming_maps_to_the_same_canonical_state_dict(string file, CheckpointNaming naming)
    {
        var c = KeyMaps.ToCanonical(CheckpointFile.Load(Fx.Path("tiny", file)).Tensors);
        Assert.Equal(naming, c.Naming);
        Assert.Empty(c.Unmapped);
        Fx.AssertSameTensors(Reference(), c.Tensors);
        if (naming is CheckpointNaming.Google or CheckpointNaming.GoogleBigVision) Assert.Equal(4, c.HeadsHint);
    }

    [Fact]
    public void Hybrid_google_npz_maps_to_timm_backbone_names()
    {
        var c = KeyMaps.ToCanonical(CheckpointFile.Load(Fx.Path("tiny", "hybrid_google.npz")).Tensors);
        Assert.Empty(c.Unmapped);
        Fx.AssertSameTensors(Reference("hybrid_timm.safetensors"), c.Tensors);
        Assert.Equal([8], c.Get("patch_embed.backbone.stem.norm.weight")!.Shape);
    }

    [Fact]
    public void Canonical_order_follows_the_timm_module_order()
    {
        var names = KeyMaps.ToCanonical(CheckpointFile.Load(Fx.Path("tiny", "google.npz")).Tensors).Tensors.Select(t => t.Key).ToList();
        Assert.True(names.IndexOf("blocks.0.norm1.weight") < names.IndexOf("blocks.1.norm1.weight"));
        Assert.True(names.IndexOf("blocks.1.mlp.fc2.bias") < names.IndexOf("norm.weight"));
        Assert.Equal("head.bias", names[^1]);
    }

    [Fact]
    public void Torchvision_legacy_mlp_names_and_module_prefix_are_accepted()
    {
        var t = Tensor.Zeros(4, 2);
        var sd = new List<KeyValuePair<string, Tensor>>
        {
            new("module.encoder.layers.encoder_layer_3.mlp.linear_1.weight", t),
            new("module.encoder.layers.encoder_layer_3.mlp.linear_2.bias", Tensor.Zeros(2)),
            new("module.conv_proj.weight", Tensor.Zeros(2, 3, 4, 4)),
            new("module.something_else", Tensor.Zeros(1)),
        };
        var c = KeyMaps.ToCanonical(sd);
        Assert.Equal(CheckpointNaming.TorchVision, c.Naming);
        Assert.Equal(["blocks.3.mlp.fc1.weight", "blocks.3.mlp.fc2.bias", "patch_embed.proj.weight", "module.something_else"], c.Tensors.Select(x => x.Key));
        Assert.Equal(["module.something_else"], c.Unmapped);
    }

    [Fact]
    public void Hugging_face_deit_names_map_to_distillation_token_and_heads()
    {
        var sd = new List<KeyValuePair<string, Tensor>>
        {
            new("deit.embeddings.cls_token", Tensor.Zeros(1, 1, 8)),
            new("deit.embeddings.distillation_token", Tensor.Zeros(1, 1, 8)),
            new("deit.embeddings.patch_embeddings.projection.weight", Tensor.Zeros(8, 3, 2, 2)),
            new("cls_classifier.weight", Tensor.Zeros(3, 8)),
            new("distillation_classifier.weight", Tensor.Zeros(3, 8)),
        };
        var c = KeyMaps.ToCanonical(sd);
        Assert.Equal(["cls_token", "dist_token", "patch_embed.proj.weight", "head.weight", "head_dist.weight"], c.Tensors.Select(x => x.Key));
    }

    [Fact]
    public void Scanned_big_vision_layers_are_split()
    {
        var w = Tensor.FromArray(Enumerable.Range(0, 2 * 3).Select(i => (float)i).ToArray(), 2, 3);
        var sd = new List<KeyValuePair<string, Tensor>>
        {
            new("params/embedding/kernel", Tensor.Zeros(2, 2, 3, 3)),
            new("params/Transformer/encoderblock/LayerNorm_0/scale", w),
        };
        var c = KeyMaps.ToCanonical(sd);
        Assert.Equal([3f, 4f, 5f], c.Get("blocks.1.norm1.weight")!.ToArray());
    }

    [Fact]
    public void Convert_to_timm_names_through_every_output_format()
    {
        foreach (var ext in new[] { ".safetensors", ".npz", ".pth" })
        {
            var outPath = Fx.TempFile(ext);
            CheckpointConverter.Convert(Fx.Path("tiny", "hf.safetensors"), outPath, toTimmNames: true);
            Fx.AssertSameTensors(Reference(), CheckpointFile.Load(outPath).Tensors);
            File.Delete(outPath);
        }
        var keep = Fx.TempFile(".npz");
        CheckpointConverter.Convert(Fx.Path("tiny", "google.npz"), keep, toTimmNames: false);
        Fx.AssertSameTensors(CheckpointFile.Load(Fx.Path("tiny", "google.npz")).Tensors, CheckpointFile.Load(keep).Tensors);
        File.Delete(keep);
    }
}
