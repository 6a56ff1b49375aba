using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using VitSharp.Data;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>`vit eval --model FILE --data DIR`: top-1/top-5, per-class accuracy and the confusion matrix.</summary>
internal static class EvalCommand
{
    internal static Command Build()
    {
        var model = new Option<string>("--model") { Description = "Checkpoint (.safetensors from vit train, or any format with --arch)", Required = true };
        var data = new Option<string>("--data") { Description = "Folder with one sub-folder of images per class", Required = true };
        var arch = new Option<string?>("--arch") { Description = "Model name when the checkpoint carries no config" };
        var labels = new Option<string?>("--labels") { Description = "class_indices.json (default: class names stored in the checkpoint)" };
        var batch = new Option<int>("--batch-size") { Description = "Images per batch", DefaultValueFactory = _ => 32 };
        var workers = new Option<int>("--workers") { Description = "Decoding threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var cmd = new Command("eval", "Evaluate a model on a class-folder data set: top-1/top-5, per-class accuracy, confusion matrix.");
        foreach (var o in new Option[] { model, data, arch, labels, batch, workers, json }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int bs = parse.GetValue(batch), nw = parse.GetValue(workers);
            if (bs < 1) throw new VitException($"--batch-size must be ≥ 1 (got {bs})");
            if (nw < 1) throw new VitException($"--workers must be ≥ 1 (got {nw})");
            var loaded = ModelLoading.Load(parse.GetValue(model)!, parse.GetValue(arch));
            var names = parse.GetValue(labels) is { } lp ? ModelLoading.ReadClassIndices(lp) : loaded.Classes;
            var dataset = ImageFolder.Load(parse.GetValue(data)!, loaded.Config.InChans, names);
            if (dataset.Classes.Count != loaded.Config.NumClasses)
                throw new VitException($"data has {dataset.Classes.Count} classes, model {loaded.Config.NumClasses}; pass --labels or use the checkpoint's data");
            var loader = new DataLoader(dataset, loaded.EvalTransform(), new DataLoaderOptions { BatchSize = bs, Shuffle = false, Workers = nw });
            var m = Evaluator.Evaluate(new ModuleTrainModel(loaded.Model), new LoaderSource(loader), dataset.Classes.Count, 5);
            var classNames = dataset.Classes;
            if (parse.GetValue(json))
            {
                var per = m.Confusion.PerClassAccuracy();
                var obj = new Dictionary<string, object?>
                {
                    ["images"] = m.Count,
                    ["top1"] = m.Top1,
                    ["top5"] = m.TopKAccuracy,
                    ["loss"] = m.MeanLoss,
                    ["per_class"] = classNames.Select((n, i) => new Dictionary<string, object?> { ["label"] = n, ["support"] = m.Confusion.Support(i), ["accuracy"] = double.IsNaN(per[i]) ? null : per[i] }).ToList(),
                    ["confusion"] = Enumerable.Range(0, classNames.Count).Select(i => Enumerable.Range(0, classNames.Count).Select(j => m.Confusion[i, j]).ToArray()).ToArray(),
                };
                Console.Out.WriteLine(JsonSerializer.Serialize(obj));
            }
            else
            {
                string P(double v) => (v * 100).ToString("F2", CultureInfo.InvariantCulture) + "%";
                Console.Out.WriteLine($"images: {m.Count}   top-1: {P(m.Top1)}   top-{m.TopK}: {P(m.TopKAccuracy)}   loss: {m.MeanLoss.ToString("F4", CultureInfo.InvariantCulture)}");
                Console.Out.WriteLine();
                Console.Out.Write(m.Confusion.Render(classNames));
            }
            return 0;
        });
        return cmd;
    }
}
