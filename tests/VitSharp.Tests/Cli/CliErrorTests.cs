using VitSharp.Checkpoints;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Tests.Training;

namespace VitSharp.Tests.Cli;

/// <summary>Issue 5 item 7: every user error is one line "error: ..." on stderr and exit code 2.</summary>
[Collection(SerialCollection.Name)]
public sealed class CliErrorTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("vit-err-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    private static readonly string[] Tiny = ["--model", "vit_tiny_patch16_224", "--img-size", "16", "--patch-size", "8", "--epochs", "1", "--progress", "plain"];

    private string[] Train(string data, params string[] extra) => ["train", "--data", data, .. Tiny, "--out", Path.Combine(dir, "run"), .. extra];

    [Fact]
    public void Data_errors()
    {
        var data = CliRunner.MakeFolder(Path.Combine(dir, "data"), ["a", "b", "c"]);
        CliRunner.AssertUserError("does not exist", Train(Path.Combine(dir, "missing")));
        Directory.CreateDirectory(Path.Combine(dir, "empty"));
        CliRunner.AssertUserError("no class sub-folders", Train(Path.Combine(dir, "empty")));
        CliRunner.AssertUserError("is a file", Train(Path.Combine(data, "a", "img0.png")));

        var holey = CliRunner.MakeFolder(Path.Combine(dir, "holey"), ["a", "b"]);
        Directory.CreateDirectory(Path.Combine(holey, "c"));
        CliRunner.AssertUserError(Path.Combine(holey, "c") + "' has no images", Train(holey));

        // A file with an image extension that does not decode: named in the message.
        var broken = CliRunner.MakeFolder(Path.Combine(dir, "broken"), ["a", "b"]);
        string bad = Path.Combine(broken, "b", "img3.png");
        File.WriteAllBytes(bad, [0x89, (byte)'P', (byte)'N', (byte)'G', 13, 10, 26, 10, 1, 2, 3]);
        CliRunner.AssertUserError(bad, Train(broken, "--val-rate", "0", "--batch-size", "4"));

        CliRunner.AssertUserError("cifar10 DIR", Train("cifar10"));
        CliRunner.AssertUserError("--num-classes 5 but the data has 3 classes", Train(data, "--num-classes", "5"));
    }

    [Fact]
    public void Model_and_checkpoint_errors()
    {
        var data = CliRunner.MakeFolder(Path.Combine(dir, "data"), ["a", "b", "c"]);
        CliRunner.AssertUserError("did you mean vit_tiny_patch16_224", ["train", "--data", data, "--model", "vit_tiny_patch16_22"]);

        // Weights without a config whose architecture cannot be detected from the shapes (and no --arch).
        var cfg = new VitConfig { ImgHeight = 16, ImgWidth = 16, InChans = 3, PatchSize = 8, EmbedDim = 16, Depth = 1, NumHeads = 2, NumClasses = 3 };
        var bare = Path.Combine(dir, "bare.safetensors");
        CheckpointFile.Save(bare, [new("encoder.weight", Tensor.Zeros(4, 4))]);
        CliRunner.AssertUserError("cannot detect the architecture", ["eval", "--model", bare, "--data", data]);
        CliRunner.AssertUserError("cannot detect the architecture", ["predict", "--model", bare, Path.Combine(data, "a", "img0.png")]);
        CliRunner.AssertUserError("did you mean", ["eval", "--model", bare, "--arch", "vit_tiny_patch16_22", "--data", data]);
        CliRunner.AssertUserError("no such checkpoint", ["eval", "--model", Path.Combine(dir, "nope.safetensors"), "--data", data]);
        CliRunner.AssertUserError("no such file", Train(data, "--weights", Path.Combine(dir, "nope.safetensors")));

        // Label-count mismatches: labels file vs model, data vs model.
        var model = Path.Combine(dir, "m.safetensors");
        Pretrained.Save(new VisionTransformer(cfg, new Rng(1)), model, ["a", "b", "c"]);
        var labels = Path.Combine(dir, "labels.json");
        File.WriteAllText(labels, "{\"0\": \"a\", \"1\": \"b\"}");
        CliRunner.AssertUserError("2 labels for a model with 3 classes", ["eval", "--model", model, "--data", data, "--labels", labels]);
        var unnamed = Path.Combine(dir, "unnamed.safetensors");
        Pretrained.Save(new VisionTransformer(cfg with { NumClasses = 4 }, new Rng(1)), unnamed);
        CliRunner.AssertUserError("the data has 3 classes, the model 4", ["eval", "--model", unnamed, "--data", data]);
        var other = CliRunner.MakeFolder(Path.Combine(dir, "other"), ["a", "zebra"]);
        CliRunner.AssertUserError("'zebra'", ["eval", "--model", model, "--data", other]);
    }

    [Fact]
    public void Out_of_range_and_malformed_options()
    {
        var data = CliRunner.MakeFolder(Path.Combine(dir, "data"), ["a", "b", "c"]);
        (string Expected, string[] Extra)[] cases =
        [
            ("--epochs must be ≥ 1", ["--epochs", "0"]),
            ("--lr must be a positive number", ["--lr", "-1"]),
            ("--batch-size must be ≥ 1", ["--batch-size", "0"]),
            ("--workers must be ≥ 1", ["--workers", "0"]),
            ("--warmup-epochs must be in [0, epochs]", ["--warmup-epochs", "3"]),
            ("--optimizer must be sgd or adamw", ["--optimizer", "lamb"]),
            ("--label-smoothing must be in [0, 1)", ["--label-smoothing", "1"]),
            ("--drop-path must be in [0, 1)", ["--drop-path", "1.5"]),
            ("--ema must be in [0, 1)", ["--ema", "1"]),
            ("validation rate 1.5 must be in [0, 1)", ["--val-rate", "1.5"]),
            ("--img-size must be H or HxW", ["--img-size", "0x3"]),
            ("--randaugment must be N,M", ["--randaugment", "2,40"]),
            ("--schedule must be", ["--schedule", "linear"]),
            ("--progress must be auto, bar or plain", ["--progress", "fancy"]),
            ("--crop-padding is for fixed-size sets", ["--crop-padding", "2"]),
            ("--crop-padding must be in [0, 16]", ["--crop-padding", "17"]),
            ("--random-erasing must be in [0, 1]", ["--random-erasing", "2"]),
            ("Cannot parse argument 'abc' for option '--epochs'", ["--epochs", "abc"]),
            ("Unrecognized command or argument '--bogus'", ["--bogus"]),
            ("index 7 in '0-7' is out of range", ["--classes", "0-7"]),
            ("is selected twice", ["--classes", "a,0"]),
            ("'zebra' is neither a class index", ["--classes", "a,zebra"]),
            ("training needs at least 2 classes", ["--classes", "b"]),
        ];
        foreach (var (expected, extra) in cases)
        {
            // --bogus after --data would be taken as a data token; put the extras first.
            string[] args = ["train", .. extra, "--data", data, .. Tiny.Where((_, i) => !extra.Contains(Tiny[i & ~1])), "--out", Path.Combine(dir, "run")];
            CliRunner.AssertUserError(expected, args);
        }
        CliRunner.AssertUserError("--batch-size must be ≥ 1", ["eval", "--model", "x.safetensors", "--data", data, "--batch-size", "0"]);
        CliRunner.AssertUserError("Required command was not provided", ["trian"]);
    }
}
