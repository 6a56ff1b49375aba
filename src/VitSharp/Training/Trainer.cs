using VitSharp.Checkpoints;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VitSharp.Autograd;
using VitSharp.Data;
using VitSharp.Tensors;
using VitSharp.Training.TensorBoard;

namespace VitSharp.Training;

/// <summary>Live progress of one step (the CLI renders it as a progress bar).</summary>
public sealed record StepProgress(string Phase, int Epoch, int Epochs, int Batch, int Batches, double Loss, double Accuracy,
    double Lr, double ImagesPerSecond, TimeSpan Eta);

/// <summary>What happened in one epoch.</summary>
public sealed record EpochReport(EpochMetrics Metrics, bool IsBest, ConfusionMatrix? Confusion);

/// <summary>How a run ended.</summary>
public sealed record TrainResult(int EpochsCompleted, double BestAccuracy, int BestEpoch, string StopReason,
    IReadOnlyList<EpochMetrics> History, ConfusionMatrix? LastConfusion);

/// <summary>Training stopped because the loss (or gradient norm) stopped being a finite number.</summary>
public sealed class NonFiniteLossException(string message) : VitException(message);

/// <summary>
/// The per-epoch loop of `vit train`: optimiser + schedule, label smoothing, mixup/cutmix soft targets, gradient
/// clipping and accumulation, EMA, early stopping, layer freezing, stop on a non-finite loss. Writes into the
/// output directory class_indices.json, best/last checkpoints (last holds optimiser, schedule, EMA and early-stop
/// state, so <see cref="TrainOptions.Resume"/> continues exactly), metrics.csv, a TensorBoard event file and
/// report.html. Every step runs inside a <see cref="TensorScope"/>, so memory stays flat.
/// </summary>
public sealed class Trainer
{
    public const string BestFile = "best.safetensors";
    public const string LastFile = "last.safetensors";
    public const string MetricsFile = "metrics.csv";
    public const string ReportFile = "report.html";
    public const string ClassIndexFile = "class_indices.json";

    private readonly ITrainModel model;
    private readonly IBatchSource train;
    private readonly IBatchSource? val;
    private readonly IReadOnlyList<string> classNames;
    private readonly TrainOptions options;
    private readonly ICheckpointStore store;
    private readonly IReadOnlyDictionary<string, string> modelMetadata;
    private readonly ILoss loss;

    public Trainer(ITrainModel model, IBatchSource train, IBatchSource? val, IReadOnlyList<string> classNames, TrainOptions options,
        string outDir, ICheckpointStore store, IReadOnlyDictionary<string, string>? modelMetadata = null, ILoss? loss = null)
    {
        options.Validate();
        if (classNames.Count < 2) throw new VitException($"training needs at least 2 classes, got {classNames.Count}");
        if (train.BatchesPerEpoch < 1) throw new VitException("training set is empty");
        this.model = model;
        this.train = train;
        this.val = val;
        this.classNames = classNames;
        this.options = options;
        this.store = store;
        this.modelMetadata = modelMetadata ?? new Dictionary<string, string>();
        this.loss = loss ?? CrossEntropyLoss.Instance;
        OutDir = outDir;
    }

    public string OutDir { get; }

    public Action<StepProgress>? OnStep { get; set; }
    public Action<EpochReport>? OnEpoch { get; set; }
    public Action<string>? OnMessage { get; set; }

    // Stream ids for the per-epoch generators: each epoch's randomness depends only on (seed, epoch).
    private const ulong ModelStream = 0x6D6F64656C000000UL, MixStream = 0x6D69780000000000UL;

    public TrainResult Run(CancellationToken cancel = default)
    {
        Directory.CreateDirectory(OutDir);
        AtomicFile.RemoveStaleTemporaries(OutDir);
        WriteClassIndices(Path.Combine(OutDir, ClassIndexFile), classNames);

        var parameters = model.NamedParameters().ToList();
        if (options.FreezeLayers)
        {
            foreach (var (name, p) in parameters) p.RequiresGrad = options.KeepTrainable(name);
            int kept = parameters.Count(x => x.Param.RequiresGrad);
            if (kept == 0) throw new VitException("--freeze-layers: no parameter name contains 'head' or 'pre_logits'; nothing to train");
            OnMessage?.Invoke($"freeze-layers: training {kept} of {parameters.Count} parameter tensors ({parameters.Where(x => x.Param.RequiresGrad).Sum(x => (long)x.Param.Numel):N0} values)");
        }
        var groups = ParamGroups.WithNoDecay(parameters, options.WeightDecay);
        Optimizer optimizer = options.Optimizer == "adamw"
            ? new AdamW(groups, options.Lr, options.Beta1, options.Beta2, options.Eps)
            : new Sgd(groups, options.Lr, options.Momentum, 0, options.Nesterov);
        var accum = new GradAccumulation(options.GradAccum);
        int updatesPerEpoch = accum.UpdatesPerEpoch(train.BatchesPerEpoch);
        long warmupSteps = (long)Math.Round(options.WarmupEpochs * updatesPerEpoch);
        var schedule = options.Schedule switch
        {
            LrScheduleKind.Constant => LrSchedule.Constant(options.Lr, warmupSteps),
            LrScheduleKind.StepCosine => LrSchedule.StepCosine(options.Lr, options.Epochs, updatesPerEpoch, options.Lrf, warmupSteps),
            _ => LrSchedule.EpochCosine(options.Lr, options.Epochs, updatesPerEpoch, options.Lrf, warmupSteps),
        };
        var ema = options.Ema > 0 ? new Ema(parameters, options.Ema) : null;
        var early = options.EarlyStop > 0 ? new EarlyStopping(options.EarlyStop) : null;
        var mix = options.Mixup > 0 || options.Cutmix > 0
            ? new MixupCutmix(classNames.Count, options.Mixup, options.Cutmix, options.MixupProb, labelSmoothing: options.LabelSmoothing)
            : null;

        var history = new MetricsLog();
        int startEpoch = 0, bestEpoch = -1;
        long globalStep = 0;
        double bestAcc = double.NegativeInfinity;
        string lastPath = Path.Combine(OutDir, LastFile), metricsPath = Path.Combine(OutDir, MetricsFile);
        if (options.Resume)
        {
            (startEpoch, globalStep, bestAcc, bestEpoch) = Restore(lastPath, parameters, optimizer, ema, early);
            history = MetricsLog.Load(metricsPath);
            history.TruncateFrom(startEpoch);
            OnMessage?.Invoke($"resuming from {lastPath} after epoch {startEpoch} (step {globalStep})");
            if (startEpoch >= options.Epochs)
                return new TrainResult(startEpoch, bestAcc, bestEpoch, "already complete", history.Rows, null);
        }

        using var tb = new EventWriter(OutDir);
        ConfusionMatrix? lastConfusion = null;
        string stopReason = "completed";
        int epoch = startEpoch;
        optimizer.ZeroGrad(setToNull: true);
        for (; epoch < options.Epochs; epoch++)
        {
            var sw = Stopwatch.StartNew();
            var (trainLoss, trainAcc, lr, cancelled) = TrainEpoch(epoch, optimizer, schedule, accum, ema, mix, ref globalStep, cancel);
            if (cancelled)
            {
                stopReason = "cancelled";
                break;
            }

            ClassificationMetrics? vm = null;
            if (val != null)
            {
                if (ema != null) vm = WithWeights(parameters, ema, () => Evaluate(epoch));
                else vm = Evaluate(epoch);
                lastConfusion = vm.Confusion;
            }
            double valLoss = vm?.MeanLoss ?? double.NaN, valAcc = vm?.Top1 ?? double.NaN;
            var row = new EpochMetrics(epoch, trainLoss, trainAcc, valLoss, valAcc, lr, sw.Elapsed.TotalSeconds);
            history.Add(row);
            history.Save(metricsPath);
            tb.AddScalar("train_loss", (float)trainLoss, epoch);
            tb.AddScalar("train_acc", (float)trainAcc, epoch);
            if (vm != null)
            {
                tb.AddScalar("val_loss", (float)valLoss, epoch);
                tb.AddScalar("val_acc", (float)valAcc, epoch);
            }
            tb.AddScalar("learning_rate", (float)lr, epoch);

            double score = vm != null ? valAcc : trainAcc;
            bool isBest = score > bestAcc;
            if (isBest)
            {
                bestAcc = score;
                bestEpoch = epoch;
                var weights = ema != null ? ema.Shadow.Select(x => (x.Name, x.Shadow)).ToList() : parameters;
                store.Save(Path.Combine(OutDir, BestFile), weights, CheckpointMetadata("best", epoch, score));
            }
            early?.Update(epoch, score);
            SaveLast(lastPath, parameters, optimizer, schedule, ema, early, epoch + 1, globalStep, bestAcc, bestEpoch);
            ReportHtml.Write(Path.Combine(OutDir, ReportFile), "VitSharp training report", history.Rows, lastConfusion, classNames, Summary(bestAcc, bestEpoch));
            OnEpoch?.Invoke(new EpochReport(row, isBest, vm?.Confusion));
            if (early is { ShouldStop: true })
            {
                stopReason = $"early stop: no improvement for {early.Patience} epochs";
                epoch++;
                break;
            }
        }
        return new TrainResult(epoch, bestAcc, bestEpoch, stopReason, history.Rows, lastConfusion);
    }

    private (double Loss, double Acc, double Lr, bool Cancelled) TrainEpoch(int epoch, Optimizer optimizer, LrSchedule schedule,
        GradAccumulation accum, Ema? ema, MixupCutmix? mix, ref long globalStep, CancellationToken cancel)
    {
        model.Train();
        if (model is IStochasticModel sm) sm.SetRng(new Rng(options.Seed, ModelStream + (ulong)epoch));
        var mixRng = new Rng(options.Seed, MixStream + (ulong)epoch);
        int batches = train.BatchesPerEpoch;
        double lossSum = 0, lr = schedule.Lr(globalStep);
        long seen = 0, correct = 0;
        var sw = Stopwatch.StartNew();
        int i = 0;
        foreach (var batch in train.Batches(epoch))
        {
            if (cancel.IsCancellationRequested) return (double.NaN, double.NaN, lr, true);
            if (i >= batches) throw new VitException($"training data yielded more than the announced {batches} batches");
            int b = batch.Labels.Length;
            using (TensorScope.Begin())
            {
                var images = batch.Images;
                var soft = batch.SoftTargets;
                if (soft == null && mix != null)
                {
                    images = images.Contiguous();
                    soft = Tensor.FromArray(mix.Apply(images, batch.Labels, mixRng, out _), b, classNames.Count);
                }
                Tensor logits;
                double lv;
                // The planned step writes gradients instead of adding them, so it serves the plain CE case without accumulation.
                if (accum.Steps == 1 && loss is CrossEntropyLoss && model is IFusedTrainModel fused
                    && fused.TryForwardBackward(images, batch.Labels, soft, options.LabelSmoothing, out float fusedLoss, out logits))
                {
                    lv = fusedLoss;
                    CheckFinite(lv, epoch, i);
                }
                else
                {
                    logits = model.Forward(images);
                    var l = soft != null ? loss.Compute(logits, soft) : loss.Compute(logits, batch.Labels, options.LabelSmoothing);
                    lv = l.Item();
                    CheckFinite(lv, epoch, i);
                    if (accum.Steps > 1) l = l * accum.LossScale(i, batches);
                    l.Backward();
                }
                correct += CountCorrect(logits, batch.Labels);
                lossSum += lv * b;
                seen += b;
                if (accum.IsUpdateStep(i, batches))
                {
                    lr = schedule.Lr(globalStep);
                    optimizer.SetLr(lr);
                    if (options.ClipGrad > 0)
                    {
                        double norm = GradClip.ClipByGlobalNorm(optimizer.Parameters.ToList(), options.ClipGrad);
                        if (!double.IsFinite(norm))
                            throw new NonFiniteLossException($"gradient norm is {norm.ToString(CultureInfo.InvariantCulture)} at epoch {epoch + 1}, batch {i + 1}; training stopped");
                    }
                    optimizer.Step();
                    optimizer.ZeroGrad();
                    ema?.Update();
                    globalStep++;
                }
            }
            i++;
            double secs = sw.Elapsed.TotalSeconds;
            double ips = secs > 0 ? seen / secs : 0;
            var eta = TimeSpan.FromSeconds(i > 0 ? secs / i * (batches - i) : 0);
            OnStep?.Invoke(new StepProgress("train", epoch, options.Epochs, i, batches, lossSum / seen, (double)correct / seen, lr, ips, eta));
        }
        if (i != batches) throw new VitException($"training data yielded {i} batches, announced {batches}");
        return (lossSum / Math.Max(seen, 1), (double)correct / Math.Max(seen, 1), lr, false);
    }

    private static void CheckFinite(double lv, int epoch, int batch)
    {
        if (!double.IsFinite(lv))
            throw new NonFiniteLossException($"loss is {lv.ToString(CultureInfo.InvariantCulture)} at epoch {epoch + 1}, batch {batch + 1}; training stopped (try a lower --lr or --clip-grad)");
    }

    private ClassificationMetrics Evaluate(int epoch) =>
        Evaluator.Evaluate(model, val!, classNames.Count, options.TopK, loss, epoch, p => OnStep?.Invoke(p with { Epochs = options.Epochs }));

    /// <summary>Runs <paramref name="body"/> with the EMA weights in the model, then puts the live weights back.</summary>
    private static T WithWeights<T>(IReadOnlyList<(string Name, Tensor Param)> parameters, Ema ema, Func<T> body)
    {
        float[][] saved = [.. parameters.Select(x => x.Param.ToArray())];
        ema.CopyTo(parameters);
        try { return body(); }
        finally
        {
            for (int k = 0; k < parameters.Count; k++) parameters[k].Param.CopyFrom(Tensor.FromArray(saved[k], parameters[k].Param.Shape));
        }
    }

    internal static long CountCorrect(Tensor logits, int[] labels)
    {
        var l = logits.Contiguous().AsSpan();
        int c = l.Length / Math.Max(labels.Length, 1);
        long n = 0;
        for (int b = 0; b < labels.Length; b++)
            if (ClassificationMetrics.ArgMax(l.Slice(b * c, c)) == labels[b]) n++;
        return n;
    }

    public static void WriteClassIndices(string path, IReadOnlyList<string> names)
    {
        var d = new Dictionary<string, string>();
        for (int i = 0; i < names.Count; i++) d[i.ToString(CultureInfo.InvariantCulture)] = names[i];
        AtomicFile.WriteAllText(path, JsonSerializer.Serialize(d, IndentedJson) + "\n");
    }

    private static readonly JsonSerializerOptions IndentedJson = new() { WriteIndented = true, IndentSize = 4 };

    private List<(string Key, string Value)> Summary(double bestAcc, int bestEpoch) =>
    [
        ("classes", string.Join(", ", classNames)),
        ("optimizer", $"{options.Optimizer}, lr {options.Lr.ToString(CultureInfo.InvariantCulture)}, weight decay {options.WeightDecay.ToString(CultureInfo.InvariantCulture)}"),
        ("epochs", options.Epochs.ToString(CultureInfo.InvariantCulture)),
        ("best accuracy", double.IsFinite(bestAcc) ? $"{bestAcc * 100:F2}% (epoch {bestEpoch})" : "–"),
        .. modelMetadata.Where(kv => kv.Value.Length <= 120).Select(kv => (kv.Key, kv.Value)),
    ];

    private Dictionary<string, string> CheckpointMetadata(string kind, int epoch, double accuracy)
    {
        var m = new Dictionary<string, string>(modelMetadata)
        {
            ["vitsharp.checkpoint"] = kind,
            [Checkpoints.CheckpointMetadata.ClassesKey] = JsonSerializer.Serialize(classNames),
            ["num_classes"] = classNames.Count.ToString(CultureInfo.InvariantCulture),
            ["epoch"] = epoch.ToString(CultureInfo.InvariantCulture),
            ["accuracy"] = accuracy.ToString("R", CultureInfo.InvariantCulture),
        };
        return m;
    }

    private void SaveLast(string path, IReadOnlyList<(string Name, Tensor Param)> parameters, Optimizer optimizer, LrSchedule schedule,
        Ema? ema, EarlyStopping? early, int epochsDone, long globalStep, double bestAcc, int bestEpoch)
    {
        var tensors = new List<(string, Tensor)>(parameters);
        var meta = CheckpointMetadata("last", epochsDone - 1, bestAcc);
        var opt = optimizer.ExportState();
        tensors.AddRange(opt.Tensors);
        foreach (var kv in opt.Metadata) meta[kv.Key] = kv.Value;
        foreach (var kv in schedule.ToMetadata()) meta[kv.Key] = kv.Value;
        if (ema != null)
        {
            var (et, em) = ema.ExportState();
            tensors.AddRange(et);
            foreach (var kv in em) meta[kv.Key] = kv.Value;
        }
        if (early != null) foreach (var kv in early.ToMetadata()) meta[kv.Key] = kv.Value;
        meta["trainer.epochs_done"] = epochsDone.ToString(CultureInfo.InvariantCulture);
        meta["trainer.global_step"] = globalStep.ToString(CultureInfo.InvariantCulture);
        meta["trainer.best_accuracy"] = bestAcc.ToString("R", CultureInfo.InvariantCulture);
        meta["trainer.best_epoch"] = bestEpoch.ToString(CultureInfo.InvariantCulture);
        // Randomness is drawn from per-epoch streams (seed, epoch), so the seed is the whole RNG state to restore.
        meta["trainer.rng"] = $"xoshiro256** seed {options.Seed.ToString(CultureInfo.InvariantCulture)}, streams per epoch";
        meta["trainer.seed"] = options.Seed.ToString(CultureInfo.InvariantCulture);
        meta["trainer.options"] = JsonSerializer.Serialize(options);
        store.Save(path, tensors, meta);
    }

    private (int Epoch, long Step, double BestAcc, int BestEpoch) Restore(string path, IReadOnlyList<(string Name, Tensor Param)> parameters,
        Optimizer optimizer, Ema? ema, EarlyStopping? early)
    {
        if (!File.Exists(path)) throw new VitException($"--resume: {path} does not exist (nothing to resume)");
        var (tensors, meta) = store.Load(path);
        string Get(string k) => meta.TryGetValue(k, out var v) ? v : throw new VitException($"--resume: {path} lacks '{k}' (not a VitSharp last checkpoint)");
        if (Get("trainer.seed") != options.Seed.ToString(CultureInfo.InvariantCulture))
            throw new VitException($"--resume: {path} was trained with --seed {Get("trainer.seed")}, this run uses {options.Seed}");
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (n, t) in tensors) byName[n] = t;
        foreach (var (name, p) in parameters)
        {
            if (!byName.TryGetValue(name, out var t)) throw new VitException($"--resume: {path} has no tensor '{name}'");
            if (!Tensor.SameShape(t.Shape, p.Shape)) throw new VitException($"--resume: '{name}' in {path} has shape {t.ShapeString}, model has {p.ShapeString}");
            p.CopyFrom(t);
        }
        optimizer.ImportState(new OptimizerState([.. tensors.Where(x => x.Name.StartsWith(Optimizer.TensorPrefix, StringComparison.Ordinal))], meta));
        ema?.ImportState(tensors, meta);
        early?.LoadMetadata(meta);
        return (int.Parse(Get("trainer.epochs_done"), CultureInfo.InvariantCulture), long.Parse(Get("trainer.global_step"), CultureInfo.InvariantCulture),
            double.Parse(Get("trainer.best_accuracy"), CultureInfo.InvariantCulture), int.Parse(Get("trainer.best_epoch"), CultureInfo.InvariantCulture));
    }
}
