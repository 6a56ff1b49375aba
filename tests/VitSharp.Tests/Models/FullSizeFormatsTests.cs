using System.Text.Json;
using VitSharp.Autograd;
using VitSharp.Checkpoints;
using VitSharp.Models;
using Xunit.Abstractions;

namespace VitSharp.Tests.Models;

/// <summary>The formula (SeededWeights) ViT-B/16 state dict with timm names, in the order of the PyTorch reference
/// (cases.json "b16_seeded"), made once for all full-size format tests.</summary>
public sealed class SeededB16
{
    internal IReadOnlyList<NamedArray> Ordered { get; }
    internal IReadOnlyDictionary<string, NamedArray> ByName { get; }

    public SeededB16()
    {
        Ordered = Make(Fixtures.Get("b16_seeded"), null);
        ByName = Ordered.ToDictionary(a => a.Name, StringComparer.Ordinal);
    }

    /// <summary>The state dict a case's checkpoint holds; arrays equal to <paramref name="reuse"/>'s are shared.</summary>
    internal static List<NamedArray> Make(Fixtures.Case c, IReadOnlyDictionary<string, NamedArray>? reuse)
    {
        var r = new List<NamedArray>(c.StateDict.Count);
        for (int t = 0; t < c.StateDict.Count; t++)
        {
            var (key, shape) = c.StateDict[t];
            r.Add(reuse != null && reuse.TryGetValue(key, out var a) && a.Shape.SequenceEqual(shape)
                ? a : new NamedArray(key, shape, SeededWeights.Values(t, key, shape)));
        }
        return r;
    }
}

/// <summary>
/// Full-size ViT-B/16 (86.6 M parameters, 224, 1000 classes) written in each foreign layout people download
/// (Google .npz, timm and torchvision .pth, Hugging Face .safetensors) by our low-level writers from the test-side
/// layouts of <see cref="ForeignLayouts"/>, then read back through the auto-detecting loader
/// (<see cref="Pretrained.Create"/>) and run: logits vs the float64 PyTorch reference (≤ 1e-4).
/// The ~350 MB files are made at test time and deleted.
/// </summary>
public class FullSizeFormatsTests(SeededB16 b16, ITestOutputHelper output) : IClassFixture<SeededB16>
{
    private const float Tol = 1e-4f;
    private const long B16Params = 86_567_656L;

    private static VitConfig Unnamed(VitConfig c) => c with { Name = null };

    private (VisionTransformer Model, PretrainedReport Report, float Diff) Run(string ext, Action<Stream> write, string reference,
        string? arch = null, Action<string>? inspect = null)
    {
        var path = Path.Combine(Path.GetTempPath(), $"vitsharp-b16-{Guid.NewGuid():N}{ext}");
        var sw = System.Diagnostics.Stopwatch.StartNew();
        void Phase(string what) { output.WriteLine($"{what}: {sw.ElapsedMilliseconds} ms"); sw.Restart(); }
        try
        {
            using (var fs = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.None, 1 << 20))
                write(fs);
            Phase($"write {new FileInfo(path).Length / (1 << 20)} MiB");
            inspect?.Invoke(path);
            if (inspect != null) Phase("inspect");
            var (model, report) = Pretrained.Create(path, arch, options: new PretrainedOptions { Strict = true });
            Phase("create+load");
            Assert.Empty(report.Missing);
            Assert.Empty(report.Unexpected);
            Assert.Empty(report.Mismatched);
            Assert.Empty(report.Dropped);
            Assert.Equal(152, report.Loaded.Count);
            Assert.Equal(B16Params, model.ParameterCount());
            model.Eval();
            using var _ = Graph.NoGrad();
            var y = model.Forward(SeededWeights.Input(224, 224));
            Phase("forward");
            float diff = Fixtures.MaxAbsDiff(y, Fixtures.ReadSafetensors(Fixtures.Get(reference).Io)["logits"]);
            output.WriteLine($"max |Δ| = {diff}");
            Assert.True(diff <= Tol, $"{ext}: max |Δ| = {diff}");
            return (model, report, diff);
        }
        finally { File.Delete(path); }
    }

    private static void AssertB16Info(string path, string format, string naming, string firstArray)
    {
        // What `vit info --json` prints.
        using var doc = JsonDocument.Parse(CheckpointReport.Inspect(path).ToJson());
        var root = doc.RootElement;
        Assert.Equal(format, root.GetProperty("format").GetString());
        Assert.Equal(naming, root.GetProperty("naming").GetString());
        Assert.Equal(B16Params, root.GetProperty("parameters").GetInt64());
        var a = root.GetProperty("architecture");
        Assert.Equal("vit_base_patch16_224", a.GetProperty("zoo_name").GetString());
        Assert.Equal(768, a.GetProperty("embed_dim").GetInt32());
        Assert.Equal(12, a.GetProperty("num_heads").GetInt32());
        Assert.Equal(16, a.GetProperty("patch_size").GetInt32());
        Assert.Empty(root.GetProperty("unmapped").EnumerateArray());
        Assert.Equal(firstArray, root.GetProperty("arrays")[0].GetProperty("name").GetString());
        Assert.Equal("float32", root.GetProperty("arrays")[0].GetProperty("dtype").GetString());
    }

    /// <summary>The test-side layouts reproduce, bit for bit, the files the Python fixture script wrote for a tiny
    /// ViT with pre-logits (tests/fixtures/checkpoints/tiny, via torch permute/reshape, np.savez and torch.save).</summary>
    [Theory]
    [InlineData("google.npz")]
    [InlineData("torchvision.pth")]
    [InlineData("hf.safetensors")]
    public void Test_side_layouts_equal_the_python_written_files(string file)
    {
        static NamedArray Named(CheckpointArray a) => new(a.Name, a.Shape, a.Tensor.ToArray());
        string Tiny(string f) => Path.Combine(AppContext.BaseDirectory, "fixtures", "checkpoints", "tiny", f);
        var timm = CheckpointFile.Load(Tiny("timm.safetensors")).Arrays.Select(Named).ToDictionary(a => a.Name, StringComparer.Ordinal);
        var ours = file switch
        {
            "google.npz" => ForeignLayouts.Google(timm, heads: 4),
            "torchvision.pth" => ForeignLayouts.TorchVision(timm),
            _ => ForeignLayouts.HuggingFace(timm),
        };
        var python = CheckpointFile.Load(Tiny(file)).Arrays;
        // torchvision's order is its module order; npz and HF files are compared as sets.
        Func<string, string> key = file == "torchvision.pth" ? _ => "" : k => k;
        Assert.Equal(python.Select(a => a.Name).OrderBy(key, StringComparer.Ordinal), ours.Select(a => a.Key).OrderBy(key, StringComparer.Ordinal));
        foreach (var (name, raw) in ours)
        {
            var p = python.Single(a => a.Name == name);
            Assert.Equal(p.Shape, raw.Shape);
            Assert.Equal(p.Tensor.ToArray(), raw.ToTensor().ToArray());
        }
    }

    [Fact]
    public void Google_npz_matches_pytorch()
    {
        var arrays = ForeignLayouts.Google(b16.ByName, heads: 12);
        Assert.Equal(200, arrays.Count); // vit-reference.md (b): 4 + 16 x 12 + 2 + 2
        var (model, report, _) = Run(".npz", fs => Npz.Write(fs, arrays), "b16_seeded",
            inspect: p => AssertB16Info(p, "npz", "google", "Transformer/encoder_norm/bias"));
        Assert.Equal(CheckpointFormat.Npz, report.Format);
        Assert.Equal(CheckpointNaming.Google, report.Naming);
        Assert.Empty(report.Resampled);
        Assert.True(Unnamed(model.Config).SameArchitecture(Unnamed(ModelZoo.GetConfig("vit_base_patch16_224"))));
    }

    [Fact]
    public void Timm_pth_matches_pytorch()
    {
        var arrays = ForeignLayouts.Timm(b16.Ordered);
        var (model, report, _) = Run(".pth", fs => TorchFile.Write(fs, arrays), "b16_seeded");
        Assert.Equal(CheckpointFormat.PyTorch, report.Format);
        Assert.Equal(CheckpointNaming.Timm, report.Naming);
        Assert.True(Unnamed(model.Config).SameArchitecture(Unnamed(ModelZoo.GetConfig("vit_base_patch16_224"))));
    }

    [Fact]
    public void Torchvision_pth_matches_pytorch()
    {
        var arrays = ForeignLayouts.TorchVision(b16.ByName);
        var (model, report, _) = Run(".pth", fs => TorchFile.Write(fs, arrays), "b16_seeded");
        Assert.Equal(CheckpointNaming.TorchVision, report.Naming);
        Assert.True(Unnamed(model.Config).SameArchitecture(Unnamed(ModelZoo.GetConfig("vit_base_patch16_224"))));
    }

    [Fact]
    public void Hugging_face_safetensors_matches_pytorch()
    {
        var arrays = ForeignLayouts.HuggingFace(b16.ByName);
        Assert.Equal(200, arrays.Count);
        // The reference uses HF's LayerNorm eps 1e-12, which the loader infers from the names.
        var (model, report, _) = Run(".safetensors", fs => SafeTensors.Write(fs, arrays, new Dictionary<string, string> { ["format"] = "pt" }),
            "b16_seeded_hf");
        Assert.Equal(CheckpointFormat.SafeTensors, report.Format);
        Assert.Equal(CheckpointNaming.HuggingFace, report.Naming);
        Assert.True(Unnamed(model.Config).SameArchitecture(Unnamed(ModelZoo.GetConfig("vit_base_patch16_224")) with { LayerNormEps = 1e-12f }));
    }

    [Fact]
    public void Google_npz_at_384_loaded_at_224_resamples_the_24x24_grid()
    {
        var c = Fixtures.Get("b16_384_seeded_at224");
        var sd = SeededB16.Make(c, b16.ByName);
        Assert.Equal([1, 577, 768], sd.Single(a => a.Name == "pos_embed").Shape);
        var arrays = ForeignLayouts.Google(sd.ToDictionary(a => a.Name, StringComparer.Ordinal), heads: 12);
        var (model, report, _) = Run(".npz", fs => Npz.Write(fs, arrays), c.Name, arch: "vit_base_patch16_224");
        Assert.Equal("pos_embed 24x24 -> 14x14 (TimmNpzBilinear)", Assert.Single(report.Resampled));
        Assert.True(Unnamed(model.Config).SameArchitecture(Unnamed(c.Config)));
    }
}
