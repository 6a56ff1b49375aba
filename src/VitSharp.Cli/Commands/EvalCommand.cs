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
        var data = new Option<string[]>("--data") { Description = DataSpec.Help + " (built-in sets: their official test split)", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var classesOpt = new Option<string?>("--classes") { Description = DataSpec.ClassesHelp };
        var arch = new Option<string?>("--arch") { Description = "Model name when the checkpoint carries no config" };
        var labels = new Option<string?>("--labels") { Description = "class_indices.json (default: class names stored in the checkpoint)" };
        var batch = new Option<int>("--batch-size") { Description = "Images per batch", DefaultValueFactory = _ => 32 };
        var workers = new Option<int>("--workers") { Description = "Decoding threads", DefaultValueFactory = _ => Environment.ProcessorCount };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var progress = new Option<string>("--progress") { Description = "auto (a live bar on a terminal unless --json), bar or plain", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("eval", "Evaluate a model on a data set (class folders, fashion-mnist, cifar10): top-1/top-5, per-class accuracy, confusion matrix.");
        foreach (var o in new Option[] { model, data, classesOpt, arch, labels, batch, workers, json, progress }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            int bs = parse.GetValue(batch), nw = parse.GetValue(workers);
            if (bs < 1) throw new VitException($"--batch-size must be ≥ 1 (got {bs})");
            if (nw < 1) throw new VitException($"--workers must be ≥ 1 (got {nw})");
            bool liveWanted = TrainProgress.Resolve(parse.GetValue(progress)!);
            var loaded = ModelLoading.Load(parse.GetValue(model)!, parse.GetValue(arch));
            var names = parse.GetValue(labels) is { } lp ? ModelLoading.ReadClassIndices(lp) : loaded.Classes;
            if (names != null && names.Count != loaded.Config.NumClasses)
                throw new VitException($"{parse.GetValue(labels)}: {names.Count} labels for a model with {loaded.Config.NumClasses} classes");
            bool asJson = parse.GetValue(json);
            // With --json stdout is one JSON object, so notes go to stderr.
            var dataset = DataSpec.ForEvaluation(parse.GetValue(data)!, parse.GetValue(classesOpt), loaded.Config.InChans, names, loaded.Config.NumClasses,
                asJson ? Console.Error.WriteLine : Console.Out.WriteLine);
            var loader = new DataLoader(dataset, loaded.EvalTransform(), new DataLoaderOptions { BatchSize = bs, Shuffle = false, Workers = nw });
            var m = TrainProgress.Run(liveWanted && !asJson, 0, view =>
                Evaluator.Evaluate(new ModuleTrainModel(loaded.Model), new LoaderSource(loader), dataset.Classes.Count, 5, onStep: view.Step));
            var classNames = dataset.Classes;
            if (asJson)
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
