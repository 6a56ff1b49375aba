using VitSharp.Autograd;
using ModelFixtures = VitSharp.Tests.Models.Fixtures;
using VitSharp.Training;
using Xunit.Abstractions;

namespace VitSharp.Tests.Training;

/// <summary>`vit predict`/`eval` load foreign checkpoints (Google .npz, timm/torchvision .pth, HF safetensors)
/// without --arch: names, layouts and architecture come from the file; logits match PyTorch. (Only Google .npz
/// files reveal the head count in their shapes; state dicts are detected with the standard head width 64, which
/// these tiny fixtures do not use, so the full-size ViT-B/16 tests cover .pth/HF detection.)</summary>
public class ForeignCheckpointLoadingTests(ITestOutputHelper output)
{
    [Theory]
    [InlineData("token", "npz")]
    [InlineData("in21k", "npz")]
    public void Loads_without_arch_and_matches_pytorch(string name, string format)
    {
        var c = ModelFixtures.Get(name);
        var loaded = ModelLoading.Load(ModelFixtures.PathOf(c.Files[format]));
        var io = ModelFixtures.ReadSafetensors(c.Io);
        using var _ = Graph.NoGrad();
        var y = loaded.Model.Forward(io["input"]);
        float diff = ModelFixtures.MaxAbsDiff(y, io["logits"]);
        output.WriteLine($"{name}.{format}: {loaded.Config.Name ?? "detected"}, max |Δ| = {diff}");
        Assert.True(diff <= 1e-4f, $"{name}.{format}: max |Δ| = {diff}");
    }
}
