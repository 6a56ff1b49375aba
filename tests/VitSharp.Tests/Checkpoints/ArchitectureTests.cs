using VitSharp.Checkpoints;

namespace VitSharp.Tests.Checkpoints;

public class ArchitectureTests
{
    private static DetectedArchitecture Detect(string file)
    {
        var ck = CheckpointFile.Load(Fx.Path("tiny", file));
        return DetectedArchitecture.Detect(KeyMaps.ToCanonical(ck.Tensors), ck.Metadata);
    }

    [Fact]
    public void Tiny_vit_is_detected_from_every_format()
    {
        foreach (var f in new[] { "google.npz", "timm.pth", "torchvision.pth", "hf.safetensors", "big_vision.npz" })
        {
            var a = Detect(f);
            Assert.Equal(4, a.PatchSize);
            Assert.Equal(3, a.InChans);
            Assert.Equal(32, a.EmbedDim);
            Assert.Equal(2, a.Depth);
            Assert.Equal(64, a.MlpHidden);
            Assert.Equal(5, a.NumClasses);
            Assert.Equal((2, 2), (a.GridH, a.GridW));
            Assert.Equal(5, a.NumTokens);
            Assert.True(a.ClassToken);
            Assert.False(a.DistToken);
            Assert.Equal(32, a.PreLogitsSize);
            Assert.Equal("token", a.GlobalPool);
            Assert.False(a.Hybrid);
            Assert.Equal(a.ParameterCount, a.EstimateParameterCount());
        }
        Assert.Equal(4, Detect("google.npz").NumHeads);
        Assert.Equal("checkpoint layout", Detect("google.npz").HeadsSource);
    }

    [Fact]
    public void Distilled_and_hybrid_are_detected()
    {
        var d = Detect("distilled.safetensors");
        Assert.True(d.DistToken);
        Assert.Equal(2, d.NumPrefixTokens);
        Assert.Equal(0, d.PreLogitsSize);
        Assert.Equal(d.ParameterCount, d.EstimateParameterCount());

        var h = Detect("hybrid_google.npz");
        Assert.True(h.Hybrid);
        Assert.Equal([1, 2], h.HybridStageDepths);
        Assert.Equal([16, 32], h.HybridStageWidths);
        Assert.Equal(8, h.PatchSize);
        Assert.Equal((16, 16), (h.ImgH, h.ImgW));
        Assert.Equal(h.ParameterCount, h.EstimateParameterCount());
    }

    [Fact]
    public void Metadata_heads_and_grid_override_guesses()
    {
        var path = Fx.TempFile(".safetensors");
        var sd = CheckpointFile.Load(Fx.Path("tiny", "timm.safetensors")).Tensors;
        CheckpointFile.Save(path, sd, new CheckpointMetadata { ConfigJson = "{\"num_heads\": 8, \"img_size\": 8}" });
        var ck = CheckpointFile.Load(path);
        var a = DetectedArchitecture.Detect(KeyMaps.ToCanonical(ck.Tensors), ck.Metadata);
        Assert.Equal(8, a.NumHeads);
        Assert.Equal("metadata", a.HeadsSource);
        File.Delete(path);
    }

    [Fact]
    public void Reference_parameter_counts_and_flops()
    {
        var b16 = new DetectedArchitecture
        {
            PatchSize = 16,
            EmbedDim = 768,
            Depth = 12,
            NumHeads = 12,
            MlpHidden = 3072,
            NumClasses = 1000,
            GridH = 14,
            GridW = 14,
            NumPrefixTokens = 1,
            ClassToken = true,
        };
        Assert.Equal(86_567_656, b16.EstimateParameterCount());
        Assert.Equal("vit_base_patch16_224", b16.ZooName);
        // timm/fvcore report ≈17.6 GMACs for ViT-B/16 at 224.
        Assert.InRange(b16.GFlops, 34.8, 35.4);
        var r50 = b16 with
        {
            Hybrid = true,
            HybridStageDepths = [3, 4, 9],
            HybridStageWidths = [256, 512, 1024],
            HybridStemWidth = 64,
            ProjKernel = 1,
        };
        Assert.Equal(98_659_112, r50.EstimateParameterCount());
        Assert.Equal("vit_base_r50_s16_224", r50.ZooName);
        Assert.True(r50.GFlops > b16.GFlops);
        // Same analytic count as the model zoo's (2·MACs).
        Assert.Equal(2.0 * VitSharp.Models.ModelZoo.MacsPerImage(VitSharp.Models.Pretrained.FromDetected(b16)) / 1e9, b16.GFlops, 9);
        Assert.Equal(2.0 * VitSharp.Models.ModelZoo.MacsPerImage(VitSharp.Models.Pretrained.FromDetected(r50)) / 1e9, r50.GFlops, 9);
    }

    [Fact]
    public void Grid_guess_is_square_when_possible()
    {
        Assert.Equal((14, 14), DetectedArchitecture.SquareishGrid(196));
        Assert.Equal((12, 16), DetectedArchitecture.SquareishGrid(192));
        Assert.Equal((1, 7), DetectedArchitecture.SquareishGrid(7));
    }
}
