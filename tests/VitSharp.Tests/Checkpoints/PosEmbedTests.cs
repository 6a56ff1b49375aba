using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

public class PosEmbedTests
{
    private static readonly Dictionary<string, Tensor> Ref = Fx.Dict(CheckpointFile.Load(Fx.Path("posembed.npz")).Tensors);

    public static TheoryData<string, PosEmbedResampleMode> Modes => new()
    {
        { "bilinear", PosEmbedResampleMode.TimmNpzBilinear },
        { "bilinear_ac", PosEmbedResampleMode.GoogleBilinearAlignCorners },
        { "bicubic_aa", PosEmbedResampleMode.TimmBicubicAntialias },
        { "bicubic", PosEmbedResampleMode.BicubicHalfPixel },
        { "bicubic_ac", PosEmbedResampleMode.BicubicAlignCorners },
    };

    [Theory]
    [MemberData(nameof(Modes))]
    public void Matches_torch_interpolate(string prefix, PosEmbedResampleMode mode)
    {
        foreach (var (gh, gw) in new[] { (4, 4), (6, 6) })
            foreach (var (nh, nw) in new[] { (6, 5), (3, 2), (4, 4), (7, 7) })
            {
                var input = Ref[$"in_{gh}x{gw}"];
                var expected = Ref[$"{prefix}_{gh}x{gw}_to_{nh}x{nw}"];
                var got = PosEmbed.Resample(input, 1, (gh, gw), (nh, nw), mode);
                Assert.Equal(expected.Shape, got.Shape);
                var e = expected.ToArray();
                var g = got.ToArray();
                for (int i = 0; i < e.Length; i++)
                    Assert.True(Math.Abs(e[i] - g[i]) <= 2e-6f + 1e-5f * Math.Abs(e[i]), $"{prefix} {gh}x{gw}->{nh}x{nw} [{i}]: {g[i]} vs torch {e[i]}");
            }
    }

    [Fact]
    public void Same_grid_is_identity_for_the_bilinear_modes_and_prefix_rows_are_kept()
    {
        var input = Ref["in_4x4"];
        Assert.Equal(input.ToArray(), PosEmbed.Resample(input, 1, (4, 4), (4, 4), PosEmbedResampleMode.TimmNpzBilinear).ToArray());
        var two = PosEmbed.Resample(Tensor.FromArray(Enumerable.Range(0, 6 * 2).Select(i => (float)i).ToArray(), 1, 6, 2), 2, (2, 2), (3, 3));
        Assert.Equal([0f, 1f, 2f, 3f], two.ToArray()[..4]);
    }

    [Fact]
    public void Mismatched_token_count_is_a_shape_error()
    {
        var ex = Assert.Throws<ShapeException>(() => PosEmbed.Resample(Tensor.Zeros(1, 10, 4), 1, (4, 4), (2, 2)));
        Assert.Contains("10 tokens", ex.Message);
    }
}
