using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit predict --model FILE [--arch NAME] [--labels class_indices.json] [--top-k K] [--json] [--logits] IMAGE|DIR...`:
/// validation preprocessing, softmax, top-k with labels (from --labels, else the checkpoint, else indices).
/// </summary>
internal static class PredictCommand
{
    private static readonly string[] ImageExtensions = [".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".pnm"];

    internal static Command Build()
    {
        var inputs = new Argument<string[]>("images") { Description = "Image files or directories of images", Arity = ArgumentArity.OneOrMore };
        var model = new Option<string>("--model") { Description = "Checkpoint (.safetensors from vit train, or any format with --arch)", Required = true };
        var arch = new Option<string?>("--arch") { Description = "Model name when the checkpoint carries no config (e.g. vit_base_patch16_224)" };
        var labels = new Option<string?>("--labels") { Description = "class_indices.json with {\"0\": \"name\", ...}" };
        var topK = new Option<int>("--top-k") { Description = "How many classes to show per image", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print one JSON array instead of text" };
        var logits = new Option<bool>("--logits") { Description = "Include raw logits in the JSON output" };
        var batch = new Option<int>("--batch-size") { Description = "Images per forward pass", DefaultValueFactory = _ => 8 };
        var annotate = new Option<string?>("--annotate") { Description = "Write the image with \"class: NAME prob: 0.xxx\" drawn on it (OUT.png; a directory when several images are given)" };
        var cmd = new Command("predict", "Classify images with a trained model: softmax probabilities and the top-k classes.");
        cmd.Arguments.Add(inputs);
        foreach (var o in new Option[] { model, arch, labels, topK, json, logits, batch, annotate }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int k = parse.GetValue(topK), bs = parse.GetValue(batch);
            if (k < 1) throw new VitException($"--top-k must be ≥ 1 (got {k})");
            if (bs < 1) throw new VitException($"--batch-size must be ≥ 1 (got {bs})");
            var files = ExpandInputs(parse.GetValue(inputs)!);
            var loaded = ModelLoading.Load(parse.GetValue(model)!, parse.GetValue(arch));
            var names = parse.GetValue(labels) is { } lp ? ModelLoading.ReadClassIndices(lp) : loaded.Classes;
            if (names != null && names.Count != loaded.Config.NumClasses)
                throw new VitException($"{names.Count} labels for a model with {loaded.Config.NumClasses} classes");
            var net = new ModuleTrainModel(loaded.Model);
            var results = new List<(string File, PredictionResult Result)>();
            for (int s = 0; s < files.Count; s += bs)
            {
                var chunk = files.Skip(s).Take(bs).ToList();
                var preds = Predictor.Predict(net, loaded.LoadImages(chunk), names, k);
                for (int i = 0; i < chunk.Count; i++) results.Add((chunk[i], preds[i]));
            }
            if (parse.GetValue(annotate) is { } annotatePath) Annotate(results, annotatePath);
            if (parse.GetValue(json)) Console.Out.WriteLine(ToJson(results, parse.GetValue(logits)));
            else
                foreach (var (file, r) in results)
                {
                    Console.Out.WriteLine(file);
                    foreach (var p in r.Top)
                        Console.Out.WriteLine($"  {p.Label,-24} {p.Probability.ToString("F3", CultureInfo.InvariantCulture)}  (class {p.Index})");
                    Console.Out.WriteLine($"  => class: {r.Top[0].Label} prob: {r.Top[0].Probability.ToString("F3", CultureInfo.InvariantCulture)}");
                }
            return 0;
        });
        return cmd;
    }

    /// <summary>Draws the top class on each original image (as the tutorial's predict script shows it) and saves PNGs.</summary>
    private static void Annotate(List<(string File, PredictionResult Result)> results, string target)
    {
        bool single = results.Count == 1 && !Directory.Exists(target);
        if (!single) Directory.CreateDirectory(target);
        foreach (var (file, r) in results)
        {
            var img = Imaging.ImageConvert.ToRgb(Imaging.ImageDecoder.Load(file));
            if (Math.Min(img.Width, img.Height) < 256)
            {
                // Tiny images (28×28 Fashion-MNIST) get enlarged so the label stays readable.
                double scale = 256.0 / Math.Min(img.Width, img.Height);
                img = Imaging.ImageResize.Resize(img, (int)Math.Round(img.Width * scale), (int)Math.Round(img.Height * scale), Imaging.ResampleFilter.Nearest);
            }
            Imaging.Draw.Prediction(img, r.Top[0].Label, r.Top[0].Probability);
            string outPath = single ? target : Path.Combine(target, Path.GetFileNameWithoutExtension(file) + ".png");
            Imaging.ImageEncoder.SavePng(img, outPath);
            Console.Error.WriteLine($"annotated image written to {outPath}");
        }
    }

    internal static List<string> ExpandInputs(IEnumerable<string> inputs)
    {
        var files = new List<string>();
        foreach (var input in inputs)
        {
            if (Directory.Exists(input))
            {
                var found = Directory.EnumerateFiles(input)
                    .Where(f => ImageExtensions.Contains(Path.GetExtension(f).ToLowerInvariant()))
                    .Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) throw new VitException($"{input}: no images (.jpg/.png/.bmp/.ppm) in this directory");
                files.AddRange(found);
            }
            else if (File.Exists(input)) files.Add(input);
            else throw new VitException($"{input}: no such file or directory");
        }
        return files;
    }

    internal static string ToJson(IEnumerable<(string File, PredictionResult Result)> results, bool withLogits)
    {
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartArray();
            foreach (var (file, r) in results)
            {
                w.WriteStartObject();
                w.WriteString("image", file);
                w.WriteStartArray("predictions");
                foreach (var p in r.Top)
                {
                    w.WriteStartObject();
                    w.WriteNumber("index", p.Index);
                    w.WriteString("label", p.Label);
                    w.WriteNumber("probability", p.Probability);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
                if (withLogits)
                {
                    w.WriteStartArray("logits");
                    foreach (var l in r.Logits) w.WriteNumberValue(l);
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        return System.Text.Encoding.UTF8.GetString(ms.ToArray());
    }
}
