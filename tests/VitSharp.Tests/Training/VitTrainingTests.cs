using VitSharp.Checkpoints;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Training;
using VitSharp.Training.TensorBoard;

namespace VitSharp.Tests.Training;

/// <summary>The trainer driving a real (tiny) VisionTransformer with F.CrossEntropy and safetensors checkpoints.</summary>
[Collection(SerialCollection.Name)]
public sealed class VitTrainingTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "vitsharp-vit-train-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static readonly string[] Classes = ["a", "b", "c"];

    private static VitConfig Config => new()
    {
        Name = "test_tiny",
        ImgHeight = 8,
        ImgWidth = 8,
        InChans = 1,
        PatchSize = 4,
        EmbedDim = 16,
        Depth = 2,
        NumHeads = 2,
        NumClasses = 3,
        DropPathRate = 0.1f,
        DropRate = 0.1f,
    };

    private static ModuleTrainModel NewModel(ulong seed) => new(new VisionTransformer(Config, new Rng(seed)));

    private Trainer Make(ModuleTrainModel m, TrainOptions o, string outDir)
    {
        var meta = new CheckpointMetadata { Arch = "test_tiny", ConfigJson = Config.ToJson(), Preprocess = new PreprocessInfo { Height = 8, Width = 8 } };
        return new Trainer(m, new SyntheticSource(48, 8, 5, shuffle: true, side: 8), new SyntheticSource(24, 12, 9, shuffle: false, side: 8),
            Classes, o, outDir, SafeTensorsCheckpointStore.Instance, meta.ToDictionary());
    }

    [Fact]
    public void Trains_a_vit_and_resumes_exactly()
    {
        var opts = new TrainOptions { Epochs = 3, Lr = 3e-3, Optimizer = "adamw", WeightDecay = 0.05, Seed = 4, LabelSmoothing = 0.1f, ClipGrad = 1, Ema = 0.9 };
        var full = NewModel(1);
        var r = Make(full, opts, Path.Combine(dir, "full")).Run();
        Assert.Equal(3, r.EpochsCompleted);
        Assert.True(r.History[^1].TrainLoss < r.History[0].TrainLoss, $"loss {r.History[0].TrainLoss} → {r.History[^1].TrainLoss}");

        // Checkpoints are real safetensors with our metadata: best loads back into a fresh model.
        var best = CheckpointFile.Load(Path.Combine(dir, "full", Trainer.BestFile));
        Assert.Equal(["a", "b", "c"], best.Metadata.Classes);
        Assert.Equal("test_tiny", best.Metadata.Arch);
        var reloaded = new VisionTransformer(VitConfig.FromJson(best.Metadata.ConfigJson!), new Rng(7));
        Assert.True(reloaded.LoadStateDict(best.Tensors.ToDictionary(kv => kv.Key, kv => kv.Value)).IsClean);
        var events = EventReader.ReadEvents(Directory.GetFiles(Path.Combine(dir, "full"), "events.out.tfevents.*").Single());
        Assert.Equal(3 * 5, events.Sum(e => e.Scalars.Count));

        CheckPredict(Path.Combine(dir, "full"));

        var part = NewModel(1);
        using var cts = new CancellationTokenSource();
        var t1 = Make(part, opts, Path.Combine(dir, "part"));
        t1.OnEpoch = e => { if (e.Metrics.Epoch == 0) cts.Cancel(); };
        Assert.Equal("cancelled", t1.Run(cts.Token).StopReason);
        var resumed = NewModel(2);
        Make(resumed, opts with { Resume = true }, Path.Combine(dir, "part")).Run();
        var a = full.NamedParameters().ToList();
        var b = resumed.NamedParameters().ToList();
        for (int i = 0; i < a.Count; i++) Assert.Equal(a[i].Param.ToArray(), b[i].Param.ToArray());
    }

    private static void CheckPredict(string runDir)
    {
        // Two 8×8 grayscale images: one per class pattern of the synthetic data, saved as PNG.
        var imgDir = Path.Combine(runDir, "images");
        Directory.CreateDirectory(imgDir);
        for (int y = 0; y < 2; y++)
        {
            var img = new VitSharp.Imaging.Image(8, 8, 1);
            var px = img.Pixels;
            for (int k = 0; k < 64; k++) px[k] = (byte)((k / 8 + k % 8) % 3 == y ? 230 : 100);
            VitSharp.Imaging.ImageEncoder.SavePng(img, Path.Combine(imgDir, $"img{y}.png"));
        }

        foreach (var file in new[] { Trainer.BestFile, Trainer.LastFile })
        {
            var loaded = ModelLoading.Load(Path.Combine(runDir, file));
            Assert.Equal(["a", "b", "c"], loaded.Classes);
            var batch = loaded.LoadImages(Directory.GetFiles(imgDir).Order().ToList());
            Assert.Equal([2, 1, 8, 8], batch.Shape);
        }

        var stdout = Console.Out;
        var sw = new StringWriter();
        Console.SetOut(sw);
        int rc;
        try { rc = VitSharp.Cli.Program.Main(["predict", "--model", Path.Combine(runDir, Trainer.BestFile), "--json", "--logits", "--top-k", "2", imgDir]); }
        finally { Console.SetOut(stdout); }
        Assert.Equal(0, rc);
        using var doc = System.Text.Json.JsonDocument.Parse(sw.ToString());
        var arr = doc.RootElement.EnumerateArray().ToList();
        Assert.Equal(2, arr.Count);
        Assert.EndsWith("img0.png", arr[0].GetProperty("image").GetString());
        var preds = arr[0].GetProperty("predictions").EnumerateArray().ToList();
        Assert.Equal(2, preds.Count);
        Assert.Contains(preds[0].GetProperty("label").GetString(), new[] { "a", "b", "c" });
        Assert.True(preds[0].GetProperty("probability").GetDouble() >= preds[1].GetProperty("probability").GetDouble());
        Assert.Equal(3, arr[0].GetProperty("logits").GetArrayLength());

        var err = Console.Error;
        Console.SetError(new StringWriter());
        try { Assert.Equal(2, VitSharp.Cli.Program.Main(["predict", "--model", Path.Combine(runDir, "missing.safetensors"), imgDir])); }
        finally { Console.SetError(err); }
    }
}
