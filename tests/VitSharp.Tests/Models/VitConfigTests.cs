using VitSharp.Models;

namespace VitSharp.Tests.Models;

public class VitConfigTests
{
    [Fact]
    public void Json_round_trip_keeps_every_field()
    {
        var c = ModelZoo.GetConfig("vit_base_r50_s16_384") with
        {
            QkScale = 0.125f,
            GlobalPool = GlobalPool.Avg,
            FcNorm = false,
            RepresentationSize = 512,
            NumClasses = 3,
            PosEmbed = PosEmbedKind.Sincos,
            DropPathRate = 0.1f,
            Gelu = GeluKind.Tanh,
            LayerNormEps = 1e-12f,
        };
        var json = c.ToJson();
        Assert.Contains("\"global_pool\":\"avg\"", json, StringComparison.Ordinal);
        Assert.Contains("\"hybrid_layers\":[3,4,9]", json, StringComparison.Ordinal);
        Assert.Contains("\"pos_embed\":\"sincos\"", json, StringComparison.Ordinal);
        var back = VitConfig.FromJson(json);
        Assert.True(c.SameArchitecture(back));
        Assert.Equal(json, back.ToJson());
    }

    [Fact]
    public void Missing_fields_take_defaults()
    {
        var c = VitConfig.FromJson("{\"embed_dim\": 192, \"num_heads\": 3}");
        Assert.Equal(224, c.ImgHeight);
        Assert.Equal(12, c.Depth);
        Assert.Equal(1e-6f, c.LayerNormEps);
        Assert.True(c.ClassToken);
    }

    [Theory]
    [InlineData("{\"embed_dim\": 100, \"num_heads\": 3}", "not divisible by 3 heads")]
    [InlineData("{\"class_token\": false}", "needs a class token")]
    [InlineData("{\"img_height\": 20}", "20x224")]
    [InlineData("{\"global_pool\": \"max\"}", "invalid")]
    [InlineData("{\"drop_path_rate\": 1.5}", "[0, 1)")]
    [InlineData("not json", "invalid")]
    public void Invalid_configs_are_user_errors(string json, string fragment)
    {
        var e = Assert.ThrowsAny<VitException>(() => VitConfig.FromJson(json));
        Assert.Contains(fragment, e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Fc_norm_rule_follows_pooling()
    {
        Assert.False(new VitConfig().UseFcNorm);
        Assert.True(new VitConfig { GlobalPool = GlobalPool.Avg }.UseFcNorm);
        Assert.False(new VitConfig { GlobalPool = GlobalPool.Avg, FcNorm = false }.UseFcNorm);
    }
}
