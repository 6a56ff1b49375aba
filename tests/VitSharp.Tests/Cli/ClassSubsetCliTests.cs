using System.Text.Json;
using VitSharp.Checkpoints;
using VitSharp.Data;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Tests.Training;
using VitSharp.Training;

namespace VitSharp.Tests.Cli;

/// <summary>`--classes` subsets, eval on the built-in sets' test split, and the head rule when fine-tuning on another task.</summary>
[Collection(SerialCollection.Name)]
public sealed class ClassSubsetCliTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("vit-subset-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private string[] Train(string data, string classes, string outDir, params string[] extra) =>
    [
        "train", "--data", data, "--classes", classes, "--model", "vit_tiny_patch16_224", "--img-size", "16", "--patch-size", "8", "--epochs", "1",
        "--batch-size", "4", "--seed", "1", "--workers", "1", "--out", Path.Combine(dir, outDir), .. extra,
    ];

    private static Dictionary<string, float[]> Weights(string path) =>
        CheckpointFile.Load(path).Tensors.ToDictionary(kv => kv.Key, kv => kv.Value.ToArray());

    [Fact]
    public void Train_and_eval_on_a_class_subset_then_fine_tune_with_a_new_head()
    {
        var data = CliRunner.MakeFolder(Path.Combine(dir, "data"), ["daisy", "roses", "tulips"]);
        var (rc, output, err) = CliRunner.Run(Train(data, "tulips,0", "a"));
        Assert.True(rc == 0, output + err);
        // Plain output when redirected: no ANSI sequences, no carriage returns.
        Assert.DoesNotContain('\x1b', output);
        Assert.DoesNotContain('\r', output);
        Assert.Contains("epoch 1/1", output);
        Assert.Equal(["tulips", "daisy"], ImageFolder.ReadClassIndices(Path.Combine(dir, "a", Trainer.ClassIndexFile)));
        string best = Path.Combine(dir, "a", Trainer.BestFile);
        Assert.Equal(["tulips", "daisy"], CheckpointFile.Load(best).Metadata.Classes);
        Assert.Equal(2, CheckpointFile.Load(best).Tensors.Single(kv => kv.Key == "head.weight").Value.Shape[0]);

        // eval: the model's classes picked by name from the folder; other classes are an error pointing at --classes.
        (rc, output, err) = CliRunner.Run("eval", "--model", best, "--data", data, "--classes", "daisy,tulips", "--json", "--workers", "1");
        Assert.True(rc == 0, output + err);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal(10, doc.RootElement.GetProperty("images").GetInt32());
            var per = doc.RootElement.GetProperty("per_class");
            Assert.Equal("tulips", per[0].GetProperty("label").GetString());
            Assert.Equal(5, per[1].GetProperty("support").GetInt32());
        }
        CliRunner.AssertUserError("'roses'", "eval", "--model", best, "--data", data);

        // Fine-tune on other classes (same count): backbone frozen, head re-initialised because the task differs.
        var src = Weights(best);
        string[] slow = ["--freeze-layers", "--optimizer", "sgd", "--lr", "1e-30", "--weight-decay", "0"];
        (rc, output, err) = CliRunner.Run(Train(data, "roses,tulips", "b", ["--weights", best, .. slow]));
        Assert.True(rc == 0, output + err);
        Assert.Contains("head re-initialised: the checkpoint was trained on other classes (tulips, daisy)", output);
        Assert.Contains("freeze-layers: training 2 of", output);
        var b = Weights(Path.Combine(dir, "b", Trainer.LastFile));
        foreach (var (k, v) in src.Where(kv => !kv.Key.StartsWith("head", StringComparison.Ordinal)))
            Assert.True(v.SequenceEqual(b[k]), k); // frozen backbone = pretrained backbone
        Assert.False(src["head.weight"].SequenceEqual(b["head.weight"]));

        // --reset-head false keeps the pretrained head (lr 1e-30 leaves it as loaded).
        (rc, output, err) = CliRunner.Run(Train(data, "roses,tulips", "c", ["--weights", best, "--reset-head", "false", .. slow]));
        Assert.True(rc == 0, output + err);
        Assert.DoesNotContain("re-initialised", output);
        Assert.True(src["head.weight"].SequenceEqual(Weights(Path.Combine(dir, "c", Trainer.LastFile))["head.weight"]));

        // Same classes as the checkpoint: the head is kept unless --reset-head asks otherwise.
        (rc, output, err) = CliRunner.Run(Train(data, "tulips,daisy", "d", ["--weights", best, .. slow]));
        Assert.True(rc == 0, output + err);
        Assert.DoesNotContain("re-initialised", output);
        (rc, output, err) = CliRunner.Run(Train(data, "tulips,daisy", "e", ["--weights", best, "--reset-head", .. slow]));
        Assert.True(rc == 0, output + err);
        Assert.Contains("head re-initialised (--reset-head)", output);
        Assert.False(src["head.weight"].SequenceEqual(Weights(Path.Combine(dir, "e", Trainer.LastFile))["head.weight"]));
    }

    [Fact]
    public void Eval_on_the_embedded_test_split_with_classes_matched_by_name()
    {
        string[] names = ["Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];
        var cfg = new VitConfig { ImgHeight = 28, ImgWidth = 28, InChans = 1, PatchSize = 7, EmbedDim = 16, Depth = 1, NumHeads = 2, NumClasses = 5 };
        var model = Path.Combine(dir, "fm.safetensors");
        Pretrained.Save(new VisionTransformer(cfg, new Rng(2)), model, names);

        var (rc, output, err) = CliRunner.Run("eval", "--model", model, "--data", "fashion-mnist-embedded", "--classes", "5-9", "--json");
        Assert.True(rc == 0, output + err);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal(1000, doc.RootElement.GetProperty("images").GetInt32());
            Assert.Equal(5, doc.RootElement.GetProperty("confusion").GetArrayLength());
        }
        Assert.Contains("Sandal (data class 5 -> label 0)", err);

        // A subset in another order is mapped onto the model's labels by name.
        (rc, output, err) = CliRunner.Run("eval", "--model", model, "--data", "fashion-mnist-embedded", "--classes", "Bag,Sandal", "--json");
        Assert.True(rc == 0, output + err);
        using (var doc = JsonDocument.Parse(output))
        {
            Assert.Equal(400, doc.RootElement.GetProperty("images").GetInt32());
            var support = doc.RootElement.GetProperty("per_class").EnumerateArray().Select(p => p.GetProperty("support").GetInt32()).ToArray();
            Assert.Equal([200, 0, 0, 200, 0], support);
        }

        CliRunner.AssertUserError("--progress must be", "eval", "--model", model, "--data", "fashion-mnist-embedded", "--progress", "x");
        CliRunner.AssertUserError("'T-shirt/top' is not one of the model's 5 classes", "eval", "--model", model, "--data", "fashion-mnist-embedded");
        CliRunner.AssertUserError("index 10 in '5-10' is out of range", "eval", "--model", model, "--data", "fashion-mnist-embedded", "--classes", "5-10");
    }

    [Fact]
    public void Train_on_a_subset_of_the_embedded_set_with_crop_padding_and_erasing()
    {
        // --progress bar forces the Spectre renderer (here onto a captured, non-ANSI writer).
        string run = Path.Combine(dir, "fm");
        var (rc, output, err) = CliRunner.Run("train", "--data", "fashion-mnist-embedded", "--classes", "Sandal,Bag", "--model", "vit_demo_patch7_28",
            "--epochs", "1", "--batch-size", "100", "--optimizer", "adamw", "--lr", "0.002", "--crop-padding", "2", "--random-erasing", "0.25",
            "--label-smoothing", "0.1", "--out", run, "--progress", "bar");
        Assert.True(rc == 0, output + err);
        Assert.Contains("data: 2 classes, 2000 training and 400 validation images", output);
        Assert.Equal(["Sandal", "Bag"], ImageFolder.ReadClassIndices(Path.Combine(run, Trainer.ClassIndexFile)));
        (rc, output, err) = CliRunner.Run("eval", "--model", Path.Combine(run, Trainer.BestFile), "--data", "fashion-mnist-embedded", "--classes", "8,5", "--progress", "bar");
        Assert.True(rc == 0, output + err);
        Assert.Contains("images: 400", output);
    }
}
