using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Models;

public class StructureTests
{
    public static TheoryData<string> AllTimmCases() =>
        ["token", "gap", "gap_nofc", "distilled", "in21k", "gray_nonsquare", "misc", "features", "hybrid", "resample"];

    [Theory]
    [MemberData(nameof(AllTimmCases))]
    public void State_dict_keys_and_shapes_match_timm_order(string name)
    {
        var c = Fixtures.Get(name);
        var model = new VisionTransformer(c.Config, new Rng(3));
        var ours = model.StateDict().Select(kv => (kv.Key, kv.Value.Shape)).ToList();
        Assert.Equal(c.StateDict.Select(e => e.Key), ours.Select(e => e.Key));
        for (int i = 0; i < ours.Count; i++) Assert.Equal(c.StateDict[i].Shape, ours[i].Shape);
        Assert.Equal(c.Grid, new[] { model.PatchEmbed.GridHeight, model.PatchEmbed.GridWidth });
        Assert.Equal(ModelZoo.ParameterCount(c.Config), model.ParameterCount());
    }

    [Fact]
    public void Hybrid_names_follow_timm_resnetv2()
    {
        var model = new VisionTransformer(Fixtures.Get("hybrid").Config, new Rng(3));
        var keys = model.StateDict().Keys.ToHashSet();
        Assert.Contains("patch_embed.backbone.stem.conv.weight", keys);
        Assert.Contains("patch_embed.backbone.stem.norm.weight", keys);
        Assert.Contains("patch_embed.backbone.stages.0.blocks.0.downsample.conv.weight", keys);
        Assert.Contains("patch_embed.backbone.stages.0.blocks.0.conv1.weight", keys);
        Assert.Contains("patch_embed.backbone.stages.2.blocks.8.norm3.bias", keys);
        Assert.DoesNotContain("patch_embed.backbone.stages.0.blocks.1.downsample.conv.weight", keys);
        Assert.Contains("patch_embed.proj.weight", keys);
    }

    [Fact]
    public void Same_seed_gives_same_weights_and_init_is_timm_like()
    {
        var cfg = Fixtures.Get("token").Config;
        var a = new VisionTransformer(cfg, new Rng(42));
        var b = new VisionTransformer(cfg, new Rng(42));
        foreach (var ((n, x), (_, y)) in a.NamedParameters().Zip(b.NamedParameters()))
            Assert.True(x.ToArray().SequenceEqual(y.ToArray()), n);
        var sd = a.StateDict();
        Assert.All(sd["blocks.0.attn.qkv.bias"].ToArray(), v => Assert.Equal(0f, v));
        Assert.All(sd["blocks.0.norm1.weight"].ToArray(), v => Assert.Equal(1f, v));
        var w = sd["blocks.1.mlp.fc1.weight"].ToArray();
        double mean = w.Average(v => (double)v), std = Math.Sqrt(w.Average(v => (double)v * v) - mean * mean);
        Assert.InRange(std, 0.017, 0.023);
        var pos = sd["pos_embed"].ToArray();
        Assert.InRange(Math.Sqrt(pos.Average(v => (double)v * v)), 0.015, 0.025);
    }

    [Fact]
    public void No_weight_decay_names_are_tokens_biases_and_norms()
    {
        var model = new VisionTransformer(Fixtures.Get("distilled").Config);
        var names = model.NoWeightDecayNames();
        Assert.Contains("pos_embed", names);
        Assert.Contains("cls_token", names);
        Assert.Contains("dist_token", names);
        Assert.Contains("blocks.0.attn.qkv.bias", names);
        Assert.Contains("blocks.1.norm2.weight", names);
        Assert.Contains("norm.weight", names);
        Assert.DoesNotContain("blocks.0.attn.qkv.weight", names);
        Assert.DoesNotContain("head.weight", names);
        Assert.DoesNotContain("patch_embed.proj.weight", names);
    }

    [Fact]
    public void Reset_classifier_replaces_the_heads()
    {
        var model = new VisionTransformer(Fixtures.Get("distilled").Config);
        model.ResetClassifier(7);
        Assert.Equal(7, model.Config.NumClasses);
        var sd = model.StateDict();
        Assert.Equal([7, 24], sd["head.weight"].Shape);
        Assert.Equal([7, 24], sd["head_dist.weight"].Shape);
        Assert.Equal("head_dist.bias", sd.Keys.Last()); // replaced in place, order kept
        model.ResetClassifier(0);
        Assert.DoesNotContain("head.weight", model.StateDict().Keys);
        Assert.Throws<VitException>(() => model.ResetClassifier(-1));
    }

    [Fact]
    public void Freeze_keeps_only_head_and_pre_logits_trainable()
    {
        var model = new VisionTransformer(Fixtures.Get("in21k").Config);
        int frozen = model.Freeze(n => !n.StartsWith("head", StringComparison.Ordinal) && !n.StartsWith("pre_logits", StringComparison.Ordinal));
        var trainable = model.NamedParameters().Where(p => p.Param.RequiresGrad).Select(p => p.Name).ToList();
        Assert.Equal(["pre_logits.fc.weight", "pre_logits.fc.bias", "head.weight", "head.bias"], trainable);
        Assert.Equal(model.NamedParameters().Count() - 4, frozen);
        Assert.Equal(24L * 24 + 24 + 30 * 24 + 30, model.ParameterCount(trainableOnly: true));
    }

    [Fact]
    public void Train_and_eval_propagate_to_every_module()
    {
        var model = new VisionTransformer(Fixtures.Get("token").Config);
        Assert.True(model.Training);
        model.Eval();
        Assert.All(model.NamedModules(), m => Assert.False(m.Module.Training));
        model.Train();
        Assert.All(model.NamedModules(), m => Assert.True(m.Module.Training));
    }

    [Fact]
    public void Wrong_input_size_names_both_sizes()
    {
        var model = new VisionTransformer(Fixtures.Get("token").Config);
        var e = Assert.ThrowsAny<VitException>(() => model.Forward(Tensor.Zeros(1, 3, 20, 16)));
        Assert.Contains("20x16", e.Message, StringComparison.Ordinal);
        e = Assert.ThrowsAny<VitException>(() => model.Forward(Tensor.Zeros(1, 1, 16, 16)));
        Assert.Contains("[1, 1, 16, 16]", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Flops_of_vit_b16_match_published_gmacs()
    {
        // timm lists 17.58 GMACs for vit_base_patch16_224 (norms/softmax included there; we count matmuls only).
        var cfg = ModelZoo.GetConfig("vit_base_patch16_224");
        long macs = ModelZoo.MacsPerImage(cfg);
        Assert.InRange(macs / 1e9, 17.4, 17.6);
        Assert.InRange(ModelZoo.MacsPerImage(ModelZoo.GetConfig("vit_base_patch16_384")) / 1e9, 55.0, 55.6);
        Assert.InRange(ModelZoo.MacsPerImage(ModelZoo.GetConfig("vit_base_patch32_224")) / 1e9, 4.3, 4.42);
    }

    [Fact]
    public void Planned_macs_leave_out_the_last_blocks_unread_rows()
    {
        // Token pooling: the last block needs keys and values of all 197 tokens, everything else for the class token:
        // 197·768·1536 + 768² + 2·197·768 + 768² + 2·768·3072 MACs instead of the block's 1.454 G.
        var cfg = ModelZoo.GetConfig("vit_base_patch16_224");
        long full = ModelZoo.MacsPerImage(cfg), planned = ModelZoo.PlannedMacsPerImage(cfg);
        long block = 197L * 768 * 3 * 768 + 2L * 197 * 197 * 768 + 197L * 768 * 768 + 2L * 197 * 768 * 3072;
        long last = 197L * 768 * 1536 + 768L * 768 + 2L * 197 * 768 + 768L * 768 + 2L * 768 * 3072;
        Assert.Equal(full - block + last, planned);
        // Mean pooling reads every token; hybrids are not planned.
        var gap = cfg with { GlobalPool = GlobalPool.Avg };
        Assert.Equal(ModelZoo.MacsPerImage(gap), ModelZoo.PlannedMacsPerImage(gap));
        var deit = ModelZoo.GetConfig("deit_tiny_distilled_patch16_224");
        Assert.True(ModelZoo.PlannedMacsPerImage(deit) < ModelZoo.MacsPerImage(deit));
    }

    [Fact]
    public void Position_embedding_kinds()
    {
        var baseCfg = Fixtures.Get("token").Config;
        var none = new VisionTransformer(baseCfg with { PosEmbed = PosEmbedKind.None });
        Assert.DoesNotContain("pos_embed", none.StateDict().Keys);
        Assert.Equal(ModelZoo.ParameterCount(none.Config), none.ParameterCount());
        var sincos = new VisionTransformer(baseCfg with { PosEmbed = PosEmbedKind.Sincos });
        Assert.DoesNotContain("pos_embed", sincos.StateDict().Keys); // fixed table, not saved
        var t = sincos.SincosPosEmbed!;
        Assert.Equal([1, 17, 24], t.Shape);
        Assert.Equal(0f, t[0, 0, 0]);
        Assert.Equal(1f, t[0, 0, 1]);
        Assert.Equal((float)Math.Sin(3 / Math.Pow(10000, 4.0 / 24)), t[0, 3, 4], 6);
        Assert.Equal((float)Math.Cos(3 / Math.Pow(10000, 4.0 / 24)), t[0, 3, 5], 6);
    }
}
