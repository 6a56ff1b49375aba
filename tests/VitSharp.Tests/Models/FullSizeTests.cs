using Xunit.Abstractions;
using VitSharp.Autograd;
using VitSharp.Models;

namespace VitSharp.Tests.Models;

/// <summary>ViT-B/16 at full size (86.6 M parameters, weights from a formula shared with the fixture script),
/// written to a safetensors checkpoint, read back through <see cref="Pretrained"/>, and run: logits vs PyTorch.</summary>
public class FullSizeTests(ITestOutputHelper output)
{
    [Fact]
    public void Vit_b16_through_a_checkpoint_matches_pytorch()
    {
        var c = Fixtures.Get("b16_seeded");
        Assert.True(c.Config.SameArchitecture(ModelZoo.GetConfig("vit_base_patch16_224") with { Name = null, QkvBias = true }));
        var path = Path.Combine(Path.GetTempPath(), $"vitsharp-b16-{Guid.NewGuid():N}.safetensors");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        void Phase(string what) { output.WriteLine($"{what}: {sw.ElapsedMilliseconds} ms"); sw.Restart(); }
        try
        {
            {
                var source = ModelZoo.Create("vit_base_patch16_224", initialize: false);
                Phase("build");
                SeededWeights.Fill(source);
                Phase("fill");
                Pretrained.Save(source, path);
                Phase("save");
            }
            var (model, report) = Pretrained.Create(path, options: new PretrainedOptions { Strict = true });
            Phase("create+load");
            Assert.Equal(152, report.Loaded.Count);
            Assert.Equal(86_567_656L, model.ParameterCount());
            model.Eval();
            var expected = Fixtures.ReadSafetensors(c.Io)["logits"];
            using var _ = Graph.NoGrad();
            var y = model.Forward(SeededWeights.Input(224, 224));
            Phase("forward");
            float diff = Fixtures.MaxAbsDiff(y, expected);
            output.WriteLine($"max |Δ| = {diff}");
            Assert.True(diff <= 1e-4f, $"ViT-B/16 max |Δ| = {diff}");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void R50_vit_b16_hybrid_matches_pytorch()
    {
        // Full-width R50 (3, 4, 9) + ViT-B/16 run at 64x64 (4x4 token grid) so the convolutions stay cheap.
        var c = Fixtures.Get("r50_b16_seeded");
        var model = ModelZoo.Create("vit_base_r50_s16_224", cfg => cfg with { ImgHeight = 64, ImgWidth = 64 }, initialize: false);
        Assert.Equal(c.StateDict.Select(e => e.Key), model.StateDict().Keys);
        Assert.Equal(98_659_112L - (197 - 17) * 768, model.ParameterCount());
        SeededWeights.Fill(model);
        model.Eval();
        using var _ = Graph.NoGrad();
        var y = model.Forward(SeededWeights.Input(64, 64));
        float diff = Fixtures.MaxAbsDiff(y, Fixtures.ReadSafetensors(c.Io)["logits"]);
        output.WriteLine($"max |Δ| = {diff}");
        Assert.True(diff <= 1e-4f, $"R50+ViT-B/16 max |Δ| = {diff}");
    }
}
