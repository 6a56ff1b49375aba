using System.CommandLine;
using System.Globalization;
using VitSharp.Autograd;
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
        var data = new Option<string[]>("--data") { Description = DataSpec.Help, Required = true, AllowMultipleArgumentsPerToken = true, Arity = ArgumentArity.OneOrMore };
        var model = new Option<string>("--model") { Description = "Model name from the zoo", DefaultValueFactory = _ => "vit_base_patch16_224" };
        var classesOpt = new Option<string?>("--classes") { Description = DataSpec.ClassesHelp };
        var weights = new Option<string?>("--weights") { Description = "Pretrained weights (any readable format; the head is dropped when classes differ)" };
        var resetHead = new Option<bool?>("--reset-head")
        {
            Description = "Re-initialise the classifier head after loading --weights (default: when the checkpoint's class names differ from the data's, i.e. a new task)",
            Arity = ArgumentArity.ZeroOrOne,
        };
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
        var cropPad = new Option<int>("--crop-padding") { Description = "Fixed-size sets (fashion-mnist, cifar10): random crop after zero-padding N pixels per side (0 = off)", DefaultValueFactory = _ => 0 };
        var erasing = new Option<double>("--random-erasing") { Description = "Probability of erasing a random box (torchvision RandomErasing; 0 = off)", DefaultValueFactory = _ => 0 };
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
        var progress = new Option<string>("--progress") { Description = "auto (a live bar on a terminal, plain lines otherwise), bar or plain", DefaultValueFactory = _ => "auto" };
        var cmd = new Command("train", "Train or fine-tune a ViT on a class-folder data set (or fashion-mnist / cifar10).");
        foreach (var o in new Option[] { data, classesOpt, model, weights, resetHead, numClasses, imgSize, patch, epochs, batchSize, lr, lrf, warmup, schedule, optimizer, momentum, nesterov,
                     weightDecay, freeze, smoothing, mixup, cutmix, randAug, cropPad, erasing, dropPath, clip, accum, ema, earlyStop, valRate, seed, workers, outDir, resume, progress })
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
            int pad = parse.GetValue(cropPad);
            if (pad < 0 || pad > Math.Min(h, w)) throw new VitException($"--crop-padding must be in [0, {Math.Min(h, w)}] (got {pad})");
            double erase = parse.GetValue(erasing);
            if (erase is < 0 or > 1) throw new VitException($"--random-erasing must be in [0, 1] (got {erase})");
            string output = parse.GetValue(outDir)!;

            bool live = TrainProgress.Resolve(parse.GetValue(progress)!);
            var (train, val, classes, channels, folder) = DataSpec.ForTraining(parse.GetValue(data)!, parse.GetValue(classesOpt), parse.GetValue(valRate), opts.Seed,
                baseCfg.InChans, Console.Out.WriteLine);
            int n = parse.GetValue(numClasses) ?? classes.Count;
            if (n != classes.Count) throw new VitException($"--num-classes {n} but the data has {classes.Count} classes");
            Console.Out.WriteLine($"data: {classes.Count} classes, {train.Count} training and {val?.Count ?? 0} validation images");

            var cfg = baseCfg with { NumClasses = n, ImgHeight = h, ImgWidth = w, InChans = channels, DropPathRate = dp, PatchSize = parse.GetValue(patch) ?? baseCfg.PatchSize };
            var vit = new VisionTransformer(cfg.Validate(), new Rng(opts.Seed, 0x1417));
            if (parse.GetValue(weights) is { } wpath && !opts.Resume)
                foreach (var line in LoadWeights(vit, wpath, classes, parse.GetValue(resetHead))) Console.Out.WriteLine("weights: " + line);

            var mean = Transforms.HalfMean.Take(channels).ToArray();
            var std = Transforms.HalfStd.Take(channels).ToArray();
            Compose trainT, valT;
            int resize = 0;
            if (folder)
            {
                if (pad > 0) throw new VitException("--crop-padding is for fixed-size sets (fashion-mnist, cifar10); class folders use a random resized crop");
                trainT = Transforms.TrainPreset(h, mean, std, ra, width: w);
                if (erase > 0) trainT = new Compose(trainT.ImageSteps, [.. trainT.TensorSteps, new RandomErasing(erase)]);
                resize = Math.Max(h, w) * 256 / 224;
                valT = Transforms.EvalPreset(h, resize, mean, std, width: w);
            }
            else
            {
                // Small fixed-size sets (28×28, 32×32): flip (+ RandAugment), resize to the model's input if needed (+ padded random crop).
                var tsteps = new List<IImageTransform> { new RandomHorizontalFlip() };
                if (ra is { } x) tsteps.Add(new RandAugment(x.N, x.M));
                tsteps.Add(new Resize(h, w));
                if (pad > 0) tsteps.Add(new RandomCrop(h, w, pad));
                trainT = new Compose(tsteps, erase > 0 ? [new Normalize(mean, std), new RandomErasing(erase)] : [new Normalize(mean, std)]);
                valT = new Compose([new Resize(h, w)], [new Normalize(mean, std)]);
                // Recorded so eval/predict resize the shorter side to the model size (no crop margin) like training did.
                resize = Math.Max(h, w);
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
                var result = TrainProgress.Run(live, opts.Epochs, view =>
                {
                    trainer.OnMessage = view.Line;
                    trainer.OnStep = view.Step;
                    trainer.OnEpoch = e =>
                    {
                        var m = e.Metrics;
                        string F(double v) => double.IsNaN(v) ? "-" : v.ToString("F4", CultureInfo.InvariantCulture);
                        string Pc(double v) => double.IsNaN(v) ? "-" : (v * 100).ToString("F2", CultureInfo.InvariantCulture) + "%";
                        view.EpochDone(m.Seconds);
                        view.Line($"epoch {m.Epoch + 1}/{opts.Epochs}: train loss {F(m.TrainLoss)} acc {Pc(m.TrainAcc)} | val loss {F(m.ValLoss)} acc {Pc(m.ValAcc)} | " +
                            $"lr {m.Lr.ToString("G4", CultureInfo.InvariantCulture)} | {m.Seconds.ToString("F1", CultureInfo.InvariantCulture)} s{(e.IsBest ? " | best" : "")}");
                    };
                    return trainer.Run(cts.Token);
                });
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

    /// <summary>
    /// Loads pretrained weights (head dropped by the loader when its shape differs). A checkpoint trained on other
    /// classes is a different task even when the class count matches, so its head is re-initialised too, unless
    /// --reset-head false says to keep it; --reset-head true always re-initialises it.
    /// </summary>
    internal static IEnumerable<string> LoadWeights(VisionTransformer vit, string path, IReadOnlyList<string> classes, bool? resetHead)
    {
        if (!File.Exists(path)) throw new VitException($"--weights: {path}: no such file");
        var ckpt = CheckpointFile.Load(path);
        var source = ckpt.Metadata.Classes;
        bool newTask = source != null && !source.SequenceEqual(classes);
        bool reset = resetHead ?? newTask;
        var heads = vit.StateDict().Where(kv => kv.Key.StartsWith("head.", StringComparison.Ordinal) || kv.Key.StartsWith("head_dist.", StringComparison.Ordinal))
            .Select(kv => (Param: kv.Value, Fresh: kv.Value.ToArray())).ToList();
        var lines = Pretrained.Load(vit, ckpt).Describe().ToList();
        if (reset)
        {
            using (Graph.NoGrad())
                foreach (var (p, fresh) in heads) p.CopyFrom(Tensor.FromArray(fresh, p.Shape));
            lines.Add(resetHead == true
                ? "head re-initialised (--reset-head)"
                : $"head re-initialised: the checkpoint was trained on other classes ({string.Join(", ", source!)}); keep it with --reset-head false");
        }
        return lines;
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
