using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Models;

public class ModelZooTests
{
    [Fact]
    public void Vit_b16_has_86_567_656_parameters_when_built()
    {
        var m = ModelZoo.Create("vit_base_patch16_224", initialize: false);
        Assert.Equal(86_567_656L, m.ParameterCount());
        Assert.Equal([1, 197, 768], m.StateDict()["pos_embed"].Shape);
        Assert.Equal(152, m.StateDict().Count); // 4 + 12·12 + 2 + 2 (npz has 200 with q/k/v split)
    }

    [Fact]
    public void R50_vit_b16_has_98_659_112_parameters_when_built()
    {
        var m = ModelZoo.Create("vit_base_r50_s16_224", initialize: false);
        Assert.Equal(98_659_112L, m.ParameterCount());
        Assert.Equal((14, 14), m.Config.Grid);
        Assert.Equal(1024, m.PatchEmbed.Backbone!.NumFeatures);
        Assert.Equal([768, 1024, 1, 1], m.StateDict()["patch_embed.proj.weight"].Shape);
    }

    [Theory]
    // Google vit_jax models_test.py (1000 classes, 224).
    [InlineData("vit_tiny_patch16_224", 5_717_416L)]
    [InlineData("vit_small_patch16_224", 22_050_664L)]
    [InlineData("vit_small_patch32_224", 22_878_952L)]
    [InlineData("vit_base_patch16_224", 86_567_656L)]
    [InlineData("vit_base_patch8_224", 86_576_872L)]
    [InlineData("vit_base_patch32_224", 88_224_232L)]
    [InlineData("vit_large_patch16_224", 304_326_632L)]
    [InlineData("vit_large_patch32_224", 306_535_400L)]
    [InlineData("vit_huge_patch14_224", 632_045_800L)]
    [InlineData("vit_base_r50_s16_224", 98_659_112L)]
    [InlineData("vit_small_r26_s32_224", 36_431_912L)]
    [InlineData("vit_large_r50_s32_224", 328_994_856L)]
    public void Published_parameter_counts(string name, long expected) =>
        Assert.Equal(expected, ModelZoo.ParameterCount(ModelZoo.GetConfig(name)));

    [Theory]
    [InlineData("vit_tiny_patch16_224")]
    [InlineData("vit_small_patch32_384")]
    [InlineData("deit_tiny_distilled_patch16_224")]
    [InlineData("vit_tiny_patch16_224_in21k")]
    public void Analytic_count_equals_built_model(string name)
    {
        var m = ModelZoo.Create(name, initialize: false);
        Assert.Equal(ModelZoo.ParameterCount(m.Config), m.ParameterCount());
    }

    [Fact]
    public void Registry_has_the_timm_family()
    {
        foreach (var n in new[]
        {
            "vit_tiny_patch16_224", "vit_tiny_patch16_384", "vit_small_patch8_224", "vit_small_patch16_384", "vit_base_patch16_224",
            "vit_base_patch16_384", "vit_base_patch32_224", "vit_base_patch32_384", "vit_base_patch8_224", "vit_large_patch16_224",
            "vit_large_patch16_384", "vit_large_patch14_224", "vit_huge_patch14_224", "vit_base_patch16_224_in21k",
            "vit_large_patch16_224_in21k", "vit_huge_patch14_224_in21k", "deit_tiny_distilled_patch16_224",
            "deit_small_distilled_patch16_224", "deit_base_distilled_patch16_224", "vit_base_r50_s16_224", "vit_base_r50_s16_384",
        })
            Assert.Contains(n, ModelZoo.Names);
        var in21k = ModelZoo.GetConfig("vit_base_patch16_224_in21k");
        Assert.Equal(21843, in21k.NumClasses);
        Assert.Equal(768, in21k.RepresentationSize);
        Assert.Equal(577, ModelZoo.GetConfig("vit_base_patch16_384").NumTokens);
        Assert.True(ModelZoo.GetConfig("deit_base_distilled_patch16_224").Distilled);
        Assert.Equal(198, ModelZoo.GetConfig("deit_base_distilled_patch16_224").NumTokens);
        Assert.Equal((24, 24), ModelZoo.GetConfig("vit_base_r50_s16_384").Grid);
    }

    [Fact]
    public void Overrides_apply_and_are_validated()
    {
        var c = ModelZoo.GetConfig("vit_tiny_patch16_224", c => c with { NumClasses = 5, ImgHeight = 64, ImgWidth = 96, InChans = 1 });
        Assert.Equal((4, 6), c.Grid);
        Assert.Equal(5, c.NumClasses);
        var e = Assert.Throws<VitException>(() => ModelZoo.GetConfig("vit_tiny_patch16_224", c => c with { ImgHeight = 100 }));
        Assert.Contains("100x224", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Unknown_name_suggests_close_names()
    {
        var e = Assert.Throws<VitException>(() => ModelZoo.Create("vit_base_patch16_244"));
        Assert.Contains("vit_base_patch16_224", e.Message, StringComparison.Ordinal);
        Assert.StartsWith("unknown model 'vit_base_patch16_244'", e.Message, StringComparison.Ordinal);
        Assert.Contains("deit_tiny_distilled_patch16_224", ModelZoo.Suggest("deit_tiny_distiled_patch16_224"));
        Assert.Empty(ModelZoo.Suggest("resnet152_totally_different_thing"));
        Assert.Equal(3, ModelZoo.EditDistance("kitten", "sitting"));
    }
}
