using System.Text.Json;
using VitSharp.Checkpoints;
using VitSharp.Imaging;
using VitSharp.Training;
using VitSharp.Training.TensorBoard;

namespace VitSharp.Tests.Training;

/// <summary>`vit train` / `vit eval` / `vit predict` on a tiny generated class-folder data set, and exact resume.</summary>
[Collection(SerialCollection.Name)]
public sealed class CliEndToEndTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "vitsharp-cli-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private string MakeDataset()
    {
        var root = Path.Combine(dir, "data");
        var rng = new Random(3);
        string[] classes = ["daisy", "roses", "tulips"];
        for (int c = 0; c < classes.Length; c++)
        {
            Directory.CreateDirectory(Path.Combine(root, classes[c]));
            for (int i = 0; i < 5; i++)
            {
                var img = new Image(20, 18, 3);
                var px = img.Pixels;
                for (int k = 0; k < px.Length; k++) px[k] = (byte)(rng.Next(80) + (k % 3 == c ? 150 : 0));
                ImageEncoder.SavePng(img, Path.Combine(root, classes[c], $"img{i}.png"));
            }
        }
        return root;
    }

    private static (int Rc, string Out) Vit(params string[] args)
    {
        var stdout = Console.Out;
        var stderr = Console.Error;
        var sw = new StringWriter();
        Console.SetOut(sw);
        Console.SetError(sw);
        try { return (VitSharp.Cli.Program.Main(args), sw.ToString()); }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    private static string[] TrainArgs(string data, string outDir, int epochs, bool resume = false) =>
    [
        "train", "--data", data, "--model", "vit_tiny_patch16_224", "--img-size", "16", "--patch-size", "8", "--epochs", epochs.ToString(),
        "--batch-size", "6", "--optimizer", "adamw", "--lr", "1e-3", "--schedule", "constant", "--drop-path", "0.1", "--seed", "5",
        "--workers", "2", "--out", outDir, .. resume ? new[] { "--resume" } : [],
    ];

    [Fact]
    public void Train_eval_predict_and_resume()
    {
        var data = MakeDataset();
        var full = Path.Combine(dir, "full");
        var (rc, output) = Vit(TrainArgs(data, full, 2));
        Assert.True(rc == 0, output);
        Assert.Contains("epoch 2/2", output);
        foreach (var f in new[] { Trainer.BestFile, Trainer.LastFile, Trainer.MetricsFile, Trainer.ReportFile, Trainer.ClassIndexFile })
            Assert.True(File.Exists(Path.Combine(full, f)), f);
        Assert.Equal(1 + 2 * 5, EventReader.ReadEvents(Directory.GetFiles(full, "events.out.tfevents.*").Single()).Count);

        (rc, output) = Vit("eval", "--model", Path.Combine(full, Trainer.BestFile), "--data", data, "--json", "--workers", "2");
        Assert.True(rc == 0, output);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal(15, doc.RootElement.GetProperty("images").GetInt32());
            Assert.InRange(doc.RootElement.GetProperty("top1").GetDouble(), 0, 1);
            Assert.Equal(3, doc.RootElement.GetProperty("confusion").GetArrayLength());
            Assert.Equal("daisy", doc.RootElement.GetProperty("per_class")[0].GetProperty("label").GetString());
        }

        (rc, output) = Vit("predict", "--model", Path.Combine(full, Trainer.LastFile), "--json", "--top-k", "3", Path.Combine(data, "roses"));
        Assert.True(rc == 0, output);
        using (var doc = JsonDocument.Parse(output))
        {
            var arr = doc.RootElement.EnumerateArray().ToList();
            Assert.Equal(5, arr.Count);
            var preds = arr[0].GetProperty("predictions").EnumerateArray().ToList();
            Assert.Equal(3, preds.Count);
            Assert.Equal(1.0, preds.Sum(p => p.GetProperty("probability").GetDouble()), 4);
        }

        // Interrupted run (1 epoch), resumed to 2: same final weights as the uninterrupted run.
        var part = Path.Combine(dir, "part");
        Assert.Equal(0, Vit(TrainArgs(data, part, 1)).Rc);
        (rc, output) = Vit(TrainArgs(data, part, 2, resume: true));
        Assert.True(rc == 0, output);
        Assert.Contains("resuming", output);
        var a = CheckpointFile.Load(Path.Combine(full, Trainer.LastFile)).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        var b = CheckpointFile.Load(Path.Combine(part, Trainer.LastFile)).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value);
        Assert.Equal(a.Keys.Order(), b.Keys.Order());
        foreach (var (k, t) in a) Assert.True(t.ToArray().SequenceEqual(b[k].ToArray()), k);

        // User errors: one line, exit code 2.
        Assert.Equal(2, Vit("train", "--data", Path.Combine(dir, "nope"), "--model", "vit_tiny_patch16_224").Rc);
        Assert.Equal(2, Vit("train", "--data", data, "--model", "no_such_model").Rc);
        Assert.Equal(2, Vit(TrainArgs(data, Path.Combine(dir, "fresh"), 1, resume: true)).Rc);
    }
}
