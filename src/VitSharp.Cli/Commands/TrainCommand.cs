using System.CommandLine;
using System.Globalization;
using VitSharp.Checkpoints;
using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>`vit train`: the tutorials' train script done properly (see issue D and mission.md §3).</summary>
internal static class TrainCommand
{
    internal static Command Build()
    {
        var data = new Option<string[]>("--data") { Description = "Class-folder root, 'fashion-mnist', or 'cifar10 DIR'", Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var model = new Option<string>("--model") { Description = "Model name from the zoo", DefaultValueFactory = _ => "vit_base_patch16_224" };
        var weights = new Option<string?>("--weights") { Description = "Pretrained weights (any readable format; the head is dropped when classes differ)" };
        var numClasses = new Option<int?>("--num-classes") { Description = "Classes (default: from the data)" };
        var imgSize = new Option<string?>("--img-size") { Description = "Input size H or HxW (default: the model's)" };
        var patch = new Option<int?>("--patch-size") { Description = "Override the model's patch size (e.g. 4 for 28×28 images)" };
        var epochs = new Option<int>("--epochs") { DefaultValueFactory = _ => 10 };
        var batchSize = new Option<int>("--batch-size") { DefaultValueFactory = _ => 8 };
        var lr = new Option<double>("--lr") { DefaultValueFactory = _ => 0.001 };
        var lrf = new Option<double>("--lrf") { Description = "Final factor of the per-epoch cosine schedule", DefaultValueFactory = _ => 0.01 };
        var warmup = new Option<double>("--warmup-epochs") { DefaultValueFactory = _ => 0 };
        var schedule = new Option<string>("--schedule") { Description = "epoch-cosine (tutorial), step-cosine, constant", DefaultValueFactory = _ => "epoch-cosine" };
        var optimizer = new Option<string>("--optimizer") { Description = "sgd or adamw", DefaultValueFactory = _ => "sgd" };
        var momentum = new Option<double>("--momentum") { DefaultValueFactory = _ => 0.9 };
        var nesterov = new Option<bool>("--nesterov");
        var weightDecay = new Option<double>("--weight-decay") { DefaultValueFactory = _ => 5e-5 };
        var freeze = new Option<bool>("--freeze-layers") { Description = "true: train only head / pre-logits", Arity = ArgumentArity.ZeroOrOne };
        var smoothing = new Option<float>("--label-smoothing") { DefaultValueFactory = _ => 0f };
        var mixup = new Option<double>("--mixup") { Description = "Mixup alpha (0 = off)", DefaultValueFactory = _ => 0 };
        var cutmix = new Option<double>("--cutmix") { Description = "CutMix alpha (0 = off)", DefaultValueFactory = _ => 0 };
        var randAug = new Option<string?>("--randaugment") { Description = "N,M (e.g. 2,9)" };
        var dropPath = new Option<float>("--drop-path") { DefaultValueFactory = _ => 0f };
        var clip = new Option<double>("--clip-grad") { Description = "Max global gradient norm (0 = off)", DefaultValueFactory = _ => 0 };
        var accum = new Option<int>("--grad-accum") { DefaultValueFactory = _ => 1 };
        var ema = new Option<double>("--ema") { Description = "EMA decay of the weights (0 = off)", DefaultValueFactory = _ => 0 };
        var earlyStop = new Option<int>("--early-stop") { Description = "Patience in epochs (0 = off)", DefaultValueFactory = _ => 0 };
        var valRate = new Option<double>("--val-rate") { DefaultValueFactory = _ => 0.2 };
        var seed = new Option<ulong>("--seed") { DefaultValueFactory = _ => 0UL };
        var workers = new Option<int>("--workers") { DefaultValueFactory = _ => Environment.ProcessorCount };
        var outDir = new Option<string>("--out") { DefaultValueFactory = _ => "runs/train" };
        var resume = new Option<bool>("--resume") { Description = "Continue from OUT/last.safetensors" };
        var cmd = new Command("train", "Train or fine-tune a ViT on a class-folder data set (or fashion-mnist / cifar10).");
        foreach (var o in new Option[] { data, model, weights, numClasses, imgSize, patch, epochs, batchSize, lr, lrf, warmup, schedule, optimizer, momentum, nesterov,
                     weightDecay, freeze, smoothing, mixup, cutmix, randAug, dropPath, clip, accum, ema, earlyStop, valRate, seed, workers, outDir, resume })
            cmd.Options.Add(o);

        cmd.SetAction(parse =>
        {
            var opts = new TrainOptions
            {
                Epochs = parse.GetValue(epochs),
                Lr = parse.GetValue(lr),
                Lrf = parse.GetValue(lrf),
                WarmupEpochs = parse.GetValue(warmup),
                Schedule = parse.GetValue(schedule) switch
                {
                    "epoch-cosine" => LrScheduleKind.EpochCosine,
                    "step-cosine" => LrScheduleKind.StepCosine,
                    "constant" => LrScheduleKind.Constant,
                    var s => throw new VitException($"--schedule must be epoch-cosine, step-cosine or constant (got '{s}')"),
                },
                Optimizer = parse.GetValue(optimizer)!,
                Momentum = parse.GetValue(momentum),
                Nesterov = parse.GetValue(nesterov),
                WeightDecay = parse.GetValue(weightDecay),
                FreezeLayers = parse.GetValue(freeze),
                LabelSmoothing = parse.GetValue(smoothing),
                Mixup = parse.GetValue(mixup),
                Cutmix = parse.GetValue(cutmix),
                ClipGrad = parse.GetValue(clip),
                GradAccum = parse.GetValue(accum),
                Ema = parse.GetValue(ema),
                EarlyStop = parse.GetValue(earlyStop),
                Seed = parse.GetValue(seed),
                Resume = parse.GetValue(resume),
            };
            opts.Validate();
            int bs = parse.GetValue(batchSize), nw = parse.GetValue(workers);
            if (bs < 1) throw new VitException($"--batch-size must be ≥ 1 (got {bs})");
            if (nw < 1) throw new VitException($"--workers must be ≥ 1 (got {nw})");
            float dp = parse.GetValue(dropPath);
            if (dp is < 0 or >= 1) throw new VitException($"--drop-path must be in [0, 1) (got {dp})");
            string name = parse.GetValue(model)!;
            if (!ModelZoo.Contains(name))
            {
                var near = ModelZoo.Suggest(name);
                throw new VitException($"unknown model '{name}'{(near.Count > 0 ? $"; did you mean {string.Join(", ", near)}?" : "")}");
            }
            var baseCfg = ModelZoo.GetConfig(name);
            var (h, w) = parse.GetValue(imgSize) is { } sz ? ParseSize(sz) : (baseCfg.ImgHeight, baseCfg.ImgWidth);
            (int N, int M)? ra = parse.GetValue(randAug) is { } r ? ParseRandAugment(r) : null;
            string output = parse.GetValue(outDir)!;

            var (train, val, classes, channels, folder) = LoadData(parse.GetValue(data)!, parse.GetValue(valRate), opts.Seed, channels: baseCfg.InChans);
            int n = parse.GetValue(numClasses) ?? classes.Count;
            if (n != classes.Count) throw new VitException($"--num-classes {n} but the data has {classes.Count} classes");
            Console.Out.WriteLine($"data: {classes.Count} classes, {train.Count} training and {val?.Count ?? 0} validation images");

            var cfg = baseCfg with { NumClasses = n, ImgHeight = h, ImgWidth = w, InChans = channels, DropPathRate = dp, PatchSize = parse.GetValue(patch) ?? baseCfg.PatchSize };
            var vit = new VisionTransformer(cfg.Validate(), new Rng(opts.Seed, 0x1417));
            if (parse.GetValue(weights) is { } wpath && !opts.Resume)
                foreach (var line in Pretrained.Load(vit, wpath).Describe()) Console.Out.WriteLine("weights: " + line);

            var mean = Transforms.HalfMean.Take(channels).ToArray();
            var std = Transforms.HalfStd.Take(channels).ToArray();
            Compose trainT, valT;
            int resize = 0;
            if (folder)
            {
                trainT = Transforms.TrainPreset(h, mean, std, ra, width: w);
                resize = Math.Max(h, w) * 256 / 224;
                valT = Transforms.EvalPreset(h, resize, mean, std, width: w);
            }
            else
            {
                // Small fixed-size sets (28×28, 32×32): flip (+ RandAugment) and resize to the model's input if needed.
                var tsteps = new List<IImageTransform> { new RandomHorizontalFlip() };
                if (ra is { } x) tsteps.Add(new RandAugment(x.N, x.M));
                tsteps.Add(new Resize(h, w));
                trainT = new Compose(tsteps, [new Normalize(mean, std)]);
                valT = new Compose([new Resize(h, w)], [new Normalize(mean, std)]);
            }
            using var cts = new CancellationTokenSource();
            ConsoleCancelEventHandler onCancel = (_, e) => { e.Cancel = true; cts.Cancel(); };
            Console.CancelKeyPress += onCancel;
            try
            {
                var trainLoader = new DataLoader(train, trainT, new DataLoaderOptions { BatchSize = bs, Shuffle = true, Seed = opts.Seed, Workers = nw });
                var valLoader = val == null ? null : new DataLoader(val, valT, new DataLoaderOptions { BatchSize = bs, Shuffle = false, Workers = nw });
                var meta = new CheckpointMetadata
                {
                    Arch = name,
                    ConfigJson = cfg.ToJson(),
                    Classes = classes,
                    Preprocess = new PreprocessInfo { Mean = mean, Std = std, Height = h, Width = w, ResizeShorter = resize },
                };
                var trainer = new Trainer(new ModuleTrainModel(vit), new LoaderSource(trainLoader, cts.Token),
                    valLoader == null ? null : new LoaderSource(valLoader, cts.Token), classes, opts, output, SafeTensorsCheckpointStore.Instance, meta.ToDictionary());
                bool live = !Console.IsErrorRedirected;
                trainer.OnMessage = m => Console.Out.WriteLine(m);
                trainer.OnStep = p =>
                {
                    if (!live) return;
                    int width = 24, filled = p.Batches > 0 ? p.Batch * width / p.Batches : 0;
                    string lrText = p.Phase == "train" ? $" lr {p.Lr.ToString("G3", CultureInfo.InvariantCulture)}" : "";
                    Console.Error.Write($"\r{p.Phase} {p.Epoch + 1}/{opts.Epochs} [{new string('#', filled)}{new string('.', width - filled)}] {p.Batch}/{p.Batches} " +
                        $"loss {p.Loss.ToString("F4", CultureInfo.InvariantCulture)} acc {(p.Accuracy * 100).ToString("F1", CultureInfo.InvariantCulture)}%{lrText} " +
                        $"{p.ImagesPerSecond.ToString("F1", CultureInfo.InvariantCulture)} img/s ETA {p.Eta:mm\\:ss}   ");
                    if (p.Batch == p.Batches) Console.Error.Write("\r" + new string(' ', 110) + "\r");
                };
                trainer.OnEpoch = e =>
                {
                    var m = e.Metrics;
                    string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
                    string Pc(double v) => double.IsNaN(v) ? "-" : (v * 100).ToString("F2", CultureInfo.InvariantCulture) + "%";
                    Console.Out.WriteLine($"epoch {m.Epoch + 1}/{opts.Epochs}: train loss {F(m.TrainLoss)} acc {Pc(m.TrainAcc)} | val loss {F(m.ValLoss)} acc {Pc(m.ValAcc)} | " +
                        $"lr {m.Lr.ToString("G4", CultureInfo.InvariantCulture)} | {m.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s{(e.IsBest ? " | best" : "")}");
                };
                var result = trainer.Run(cts.Token);
                if (result.StopReason == "cancelled")
                {
                    Console.Out.WriteLine($"interrupted; {Path.Combine(output, Trainer.LastFile)} holds the last finished epoch (continue with --resume)");
                    return 130;
                }
                Console.Out.WriteLine($"{result.StopReason}: best accuracy {(result.BestAccuracy * 100).ToString("F2", CultureInfo.InvariantCulture)}% at epoch {result.BestEpoch + 1}");
                if (result.LastConfusion != null) Console.Out.Write(result.LastConfusion.Render(classes));
                Console.Out.WriteLine($"outputs in {Path.GetFullPath(output)}: {Trainer.BestFile}, {Trainer.LastFile}, {Trainer.MetricsFile}, {Trainer.ReportFile}, {Trainer.ClassIndexFile}, events.out.tfevents.*");
                return 0;
            }
            finally
            {
                Console.CancelKeyPress -= onCancel;
            }
        });
        return cmd;
    }

    private static (IImageDataset Train, IImageDataset? Val, IReadOnlyList<string> Classes, int Channels, bool Folder) LoadData(string[] spec, double valRate, ulong seed, int channels)
    {
        if (spec.Length == 1 && spec[0].Equals("fashion-mnist", StringComparison.OrdinalIgnoreCase))
        {
            var (tr, te) = FashionMnist.Load();
            return (tr, te, tr.Classes, tr.Channels, false);
        }
        if (spec.Length == 2 && spec[0].Equals("cifar10", StringComparison.OrdinalIgnoreCase))
        {
            var (tr, te) = Cifar10.Load(spec[1]);
            return (tr, te, tr.Classes, tr.Channels, false);
        }
        if (spec.Length != 1) throw new VitException($"--data takes a folder, 'fashion-mnist' or 'cifar10 DIR' (got '{string.Join(' ', spec)}')");
        if (!Directory.Exists(spec[0])) throw new VitException($"--data: folder '{spec[0]}' does not exist");
        var split = ImageFolder.Split(spec[0], valRate, seed, Console.Out.WriteLine, channels: channels);
        return (split.Train, split.Validation.Count > 0 ? split.Validation : null, split.Classes, channels, true);
    }

    internal static (int H, int W) ParseSize(string s)
    {
        var parts = s.ToLowerInvariant().Split('x');
        if (parts.Length is 1 or 2 && parts.All(p => int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out int v) && v > 0))
        {
            int h = int.Parse(parts[0], CultureInfo.InvariantCulture);
            return (h, parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : h);
        }
        throw new VitException($"--img-size must be H or HxW with positive integers (got '{s}')");
    }

    internal static (int N, int M) ParseRandAugment(string s)
    {
        var parts = s.Split(',');
        if (parts.Length == 2 && int.TryParse(parts[0], CultureInfo.InvariantCulture, out int n) && int.TryParse(parts[1], CultureInfo.InvariantCulture, out int m) && n >= 0 && m is >= 0 and <= 30)
            return (n, m);
        throw new VitException($"--randaugment must be N,M (e.g. 2,9; M in [0, 30]) (got '{s}')");
    }
}
