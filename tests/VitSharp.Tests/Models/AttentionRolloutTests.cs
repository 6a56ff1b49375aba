using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Models;

public class AttentionRolloutTests
{
    [Fact]
    public void Residual_normalisation_rows_sum_to_one()
    {
        var a = Tensor.FromArray([0.2f, 0.8f, 0.6f, 0.4f], 2, 2);
        var r = AttentionRollout.ResidualNormalised(a);
        Assert.Equal(0.6, r[0, 0], 6);
        Assert.Equal(0.4, r[0, 1], 6);
        Assert.Equal(0.3, r[1, 0], 6);
        Assert.Equal(0.7, r[1, 1], 6);
    }

    [Fact]
    public void Maps_cover_the_patch_grid_and_are_scaled_to_unit_range()
    {
        var cfg = new VitConfig { ImgHeight = 16, ImgWidth = 24, InChans = 1, PatchSize = 4, EmbedDim = 24, Depth = 2, NumHeads = 2, NumClasses = 3 };
        var model = new VisionTransformer(cfg, new Rng(7));
        model.Eval();
        var x = Tensor.RandN(new Random(1), 1f, 2, 1, 16, 24);
        var (logits, maps) = AttentionRollout.Compute(model, x);
        Assert.Equal([2, 3], logits.Shape);
        Assert.Equal(2, maps.Length);
        Assert.All(maps, m =>
        {
            Assert.Equal(4 * 6, m.Length);
            Assert.Equal(1f, m.Max(), 5);
            Assert.Equal(0f, m.Min(), 5);
        });
    }
}
