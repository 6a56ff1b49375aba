using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using VitSharp.Data;
using VitSharp.Imaging;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit demo`: the whole product on a fresh clone with no network. Trains a small ViT (d96, 4 blocks, patch 7 on 28×28) on the
/// embedded Fashion-MNIST subset (or the full set with --full when Debian's dataset-fashion-mnist is installed),
/// evaluates it on held-out images written as a class-folder tree, predicts a few of them, and draws an attention
/// map — by running the same `vit` commands a user would, so what it prints is what they will see.
/// </summary>
internal static class DemoCommand
{
    internal const string DemoModel = "vit_demo_patch7_28";

    internal static Command Build()
    {
        var outDir = new Option<string>("--out") { Description = "Where to write everything", DefaultValueFactory = _ => "runs/demo" };
        var full = new Option<bool>("--full") { Description = "Use the full Fashion-MNIST from Debian's dataset-fashion-mnist instead of the embedded subset" };
        var epochs = new Option<int?>("--epochs") { Description = "Training epochs (default 20 on the subset, 10 with --full)" };
        var cmd = new Command("demo", "Train, evaluate, predict and draw attention on Fashion-MNIST in a few minutes, offline.");
        foreach (var o in new Option[] { outDir, full, epochs }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            bool useFull = parse.GetValue(full);
            int ep = parse.GetValue(epochs) ?? (useFull ? 10 : 20);
            if (ep < 1) throw new VitException($"--epochs must be ≥ 1 (got {ep})");
            return Run(parse.GetValue(outDir)!, useFull, ep);
        });
        return cmd;
    }

    internal static int Run(string outDir, bool useFull, int epochs)
    {
        var clock = Stopwatch.StartNew();
        Directory.CreateDirectory(outDir);
        string trainDir = Path.Combine(outDir, "train"), testDir = Path.Combine(outDir, "test-images");
        var (_, test) = useFull ? FashionMnist.Load() : FashionMnist.LoadEmbedded();
        Console.Out.WriteLine($"== VitSharp demo: Fashion-MNIST ({(useFull ? "full set" : "embedded subset")}), output in {Path.GetFullPath(outDir)}");

        // Held-out images as PNG files in class folders: eval and predict read them like a user's own photos.
        var samples = WriteClassFolders(test, testDir);
        Console.Out.WriteLine($"wrote {test.Count} test images to {testDir}/<class>/");

        string data = useFull ? "fashion-mnist" : "fashion-mnist-embedded";
        Step("train", ["train", "--data", data, "--model", DemoModel, "--epochs", Inv(epochs), "--batch-size", "64", "--optimizer", "adamw",
            "--lr", "0.002", "--weight-decay", "0.05", "--warmup-epochs", "1", "--schedule", "step-cosine", "--seed", "0", "--out", trainDir]);
        string best = Path.Combine(trainDir, "best.safetensors");
        Step("evaluate", ["eval", "--model", best, "--data", testDir]);
        string annotated = Path.Combine(outDir, "predictions");
        Step("predict", ["predict", "--model", best, "--top-k", "3", "--annotate", annotated, .. samples.Take(4)]);
        string attention = Path.Combine(outDir, "attention.png");
        Step("attention", ["attention", "--model", best, samples[0], "--out", attention]);

        Console.Out.WriteLine();
        Console.Out.WriteLine($"== done in {clock.Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture)} s. Where everything is:");
        Console.Out.WriteLine($"  model          {Path.GetFullPath(best)} (self-describing: config, class names, preprocessing)");
        Console.Out.WriteLine($"  report         {Path.GetFullPath(Path.Combine(trainDir, "report.html"))} (loss/accuracy/lr curves, confusion matrix)");
        Console.Out.WriteLine($"  metrics        {Path.GetFullPath(Path.Combine(trainDir, "metrics.csv"))} and TensorBoard events in {Path.GetFullPath(trainDir)}");
        Console.Out.WriteLine($"  attention map  {Path.GetFullPath(attention)}");
        Console.Out.WriteLine($"  predictions    {Path.GetFullPath(annotated)}/ (images with the predicted class drawn on them)");
        Console.Out.WriteLine($"  try            ./vit predict --model {best} {samples[1]}");
        return 0;
    }

    private static void Step(string title, string[] args)
    {
        Console.Out.WriteLine();
        Console.Out.WriteLine($"== {title}: vit {string.Join(' ', args)}");
        var root = new RootCommand();
        foreach (var c in CommandRegistry.All()) root.Subcommands.Add(c);
        int rc = Program.Run(root, args);
        if (rc != 0) throw new VitException($"demo step '{title}' failed (exit code {rc})");
    }

    /// <summary>Writes every image as OUT/&lt;class&gt;/&lt;index&gt;.png; returns one path per class (for predict).</summary>
    private static List<string> WriteClassFolders(InMemoryDataset set, string root)
    {
        var perClass = new string?[set.Classes.Count];
        int size = set.Width * set.Height * set.Channels;
        var pixels = set.Pixels.Span;
        for (int i = 0; i < set.Count; i++)
        {
            int label = set.Labels[i];
            string dir = Path.Combine(root, ImageFolder.FolderName(set.Classes[label]));
            if (perClass[label] == null) Directory.CreateDirectory(dir);
            string path = Path.Combine(dir, i.ToString("D5", CultureInfo.InvariantCulture) + ".png");
            var img = new Image(set.Width, set.Height, set.Channels, pixels.Slice(i * size, size).ToArray());
            ImageEncoder.SavePng(img, path);
            perClass[label] ??= path;
        }
        return [.. perClass.Where(p => p != null).Select(p => p!)];
    }

    private static string Inv(int v) => v.ToString(CultureInfo.InvariantCulture);
}
