using VitSharp.Data;
using VitSharp.Tensors;
using VitSharp.Training;
using VitSharp.Training.TensorBoard;

namespace VitSharp.Tests.Training;

[Collection(SerialCollection.Name)]
public sealed class TrainerTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "vitsharp-trainer-" + Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
    }

    private static readonly string[] Classes = ["circle", "square", "triangle"];

    private static Trainer Make(TinyLinearModel model, TrainOptions o, string outDir, ICheckpointStore? store = null) =>
        new(model, new SyntheticSource(60, 8, 5, shuffle: true), new SyntheticSource(30, 16, 9, shuffle: false), Classes, o, outDir,
            store ?? new TestCheckpointStore(), new Dictionary<string, string> { ["model"] = "tiny-linear" }, new OpsCrossEntropy());

    [Fact]
    public void Trains_and_writes_every_output()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 1);
        var opts = new TrainOptions { Epochs = 4, Lr = 0.05, Optimizer = "sgd", Momentum = 0.9, WeightDecay = 1e-4, Seed = 3, LabelSmoothing = 0.1f, ClipGrad = 5 };
        var t = Make(model, opts, dir);
        var steps = new List<StepProgress>();
        var epochs = new List<EpochReport>();
        t.OnStep = steps.Add;
        t.OnEpoch = epochs.Add;
        var result = t.Run();

        Assert.Equal(4, result.EpochsCompleted);
        Assert.Equal("completed", result.StopReason);
        Assert.Equal(4, epochs.Count);
        Assert.True(epochs[^1].Metrics.ValAcc >= 0.9, $"val acc {epochs[^1].Metrics.ValAcc}");
        Assert.True(epochs[^1].Metrics.TrainLoss < epochs[0].Metrics.TrainLoss);
        Assert.Contains(steps, s => s.Phase == "train" && s.Batch == 8 && s.Batches == 8);
        Assert.Contains(steps, s => s.Phase == "val");
        // Per-epoch cosine: lr of epoch e is lr·factor(e).
        for (int e = 0; e < 4; e++) Assert.Equal(0.05 * LrSchedule.CosineFactor(e, 4, 0.01), epochs[e].Metrics.Lr, 12);

        foreach (var f in new[] { Trainer.BestFile, Trainer.LastFile, Trainer.MetricsFile, Trainer.ReportFile, Trainer.ClassIndexFile })
            Assert.True(File.Exists(Path.Combine(dir, f)), f);
        Assert.Contains("\"0\": \"circle\"", File.ReadAllText(Path.Combine(dir, Trainer.ClassIndexFile)));
        Assert.Equal(5, File.ReadAllLines(Path.Combine(dir, Trainer.MetricsFile)).Length);
        var events = EventReader.ReadEvents(Directory.GetFiles(dir, "events.out.tfevents.*").Single());
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        var tags = events.SelectMany(e => e.Scalars.Select(s => s.Tag)).ToHashSet();
        Assert.Equal(new HashSet<string> { "train_loss", "train_acc", "val_loss", "val_acc", "learning_rate" }, tags);
        Assert.Equal(4 * 5, events.Sum(e => e.Scalars.Count));
        Assert.Contains("circle", File.ReadAllText(Path.Combine(dir, Trainer.ReportFile)));
        Assert.Empty(Directory.GetFiles(dir, ".*"));

        var store = new TestCheckpointStore();
        var (tensors, meta) = store.Load(Path.Combine(dir, Trainer.LastFile));
        Assert.Equal("sgd", meta["optimizer.type"]);
        Assert.Equal("tiny-linear", meta["model"]);
        Assert.Contains(tensors, x => x.Name == "optimizer.head.weight.momentum_buffer");
        var (best, bestMeta) = store.Load(Path.Combine(dir, Trainer.BestFile));
        Assert.Equal(3, best.Count);
        Assert.Equal("[\"circle\",\"square\",\"triangle\"]", bestMeta["vitsharp.classes"]);
    }

    [Fact]
    public void Resume_after_interruption_matches_an_uninterrupted_run()
    {
        var opts = new TrainOptions
        {
            Epochs = 4,
            Lr = 0.01,
            Optimizer = "adamw",
            WeightDecay = 0.05,
            Seed = 11,
            Mixup = 0.4,
            Cutmix = 1.0,
            GradAccum = 3,
            Ema = 0.9,
            WarmupEpochs = 1,
            Schedule = LrScheduleKind.StepCosine,
            ClipGrad = 1.0,
        };
        var full = new TinyLinearModel(16, 8, 3, seed: 2);
        Make(full, opts, Path.Combine(dir, "full")).Run();

        // First run is cut off after 2 epochs (cancelled during epoch 3), then resumed in a new process-like setting.
        var part = new TinyLinearModel(16, 8, 3, seed: 2);
        using var cts = new CancellationTokenSource();
        var t1 = Make(part, opts, Path.Combine(dir, "part"));
        t1.OnEpoch = e => { if (e.Metrics.Epoch == 1) cts.Cancel(); };
        var r1 = t1.Run(cts.Token);
        Assert.Equal("cancelled", r1.StopReason);
        Assert.Equal(2, r1.EpochsCompleted);

        var resumed = new TinyLinearModel(16, 8, 3, seed: 99); // different init: weights must come from last
        var r2 = Make(resumed, opts with { Resume = true }, Path.Combine(dir, "part")).Run();
        Assert.Equal(4, r2.EpochsCompleted);
        Assert.Equal(full.BackboneWeight.ToArray(), resumed.BackboneWeight.ToArray());
        Assert.Equal(full.HeadWeight.ToArray(), resumed.HeadWeight.ToArray());
        Assert.Equal(full.HeadBias.ToArray(), resumed.HeadBias.ToArray());
        Assert.Equal(4, r2.History.Count);
        Assert.Equal(File.ReadAllText(Path.Combine(dir, "full", Trainer.MetricsFile)).Split('\n').Select(StripSeconds),
                     File.ReadAllText(Path.Combine(dir, "part", Trainer.MetricsFile)).Split('\n').Select(StripSeconds));
    }

    private static string StripSeconds(string line) => line.Contains(',') ? line[..line.LastIndexOf(',')] : line;

    [Fact]
    public void Freeze_layers_trains_only_the_head()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 4);
        var before = model.BackboneWeight.ToArray();
        var headBefore = model.HeadWeight.ToArray();
        Make(model, new TrainOptions { Epochs = 1, Lr = 0.05, FreezeLayers = true }, dir).Run();
        Assert.Equal(before, model.BackboneWeight.ToArray());
        Assert.NotEqual(headBefore, model.HeadWeight.ToArray());
        Assert.False(model.BackboneWeight.RequiresGrad);
    }

    [Fact]
    public void Non_finite_loss_stops_with_a_clear_message()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 4);
        model.HeadBias.CopyFrom(Tensor.FromArray([float.NaN, 0, 0]));
        var ex = Assert.Throws<NonFiniteLossException>(() => Make(model, new TrainOptions { Epochs = 2, Lr = 0.05 }, dir).Run());
        Assert.Contains("epoch 1, batch 1", ex.Message);
        Assert.False(File.Exists(Path.Combine(dir, Trainer.LastFile)));
    }

    [Fact]
    public void Early_stopping_ends_the_run()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 4);
        // Learning rate 0-ish: validation accuracy never improves after the first epoch.
        var r = Make(model, new TrainOptions { Epochs = 10, Lr = 1e-12, EarlyStop = 2 }, dir).Run();
        Assert.StartsWith("early stop", r.StopReason);
        Assert.Equal(3, r.EpochsCompleted);
    }

    [Fact]
    public void Options_are_validated()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 4);
        Assert.Throws<VitException>(() => Make(model, new TrainOptions { Epochs = 0 }, dir));
        Assert.Throws<VitException>(() => Make(model, new TrainOptions { Optimizer = "rmsprop" }, dir));
        Assert.Throws<VitException>(() => Make(model, new TrainOptions { GradAccum = 0 }, dir));
        var ex = Assert.Throws<VitException>(() => Make(model, new TrainOptions { Resume = true }, dir).Run());
        Assert.Contains("--resume", ex.Message);
    }

    [Fact]
    public void Evaluator_and_predictor()
    {
        var model = new TinyLinearModel(16, 8, 3, seed: 1);
        Make(model, new TrainOptions { Epochs = 3, Lr = 0.05 }, dir).Run();
        var m = Evaluator.Evaluate(model, new SyntheticSource(30, 7, 9, shuffle: false), 3, topK: 2, new OpsCrossEntropy());
        Assert.Equal(30, m.Count);
        Assert.True(m.Top1 > 0.8);
        Assert.True(m.TopKAccuracy >= m.Top1);
        Assert.Equal(30, m.Confusion.Total);

        var batch = new SyntheticSource(3, 3, 9, shuffle: false).Batches(0).Single();
        var preds = Predictor.Predict(model, batch.Images, Classes, topK: 2);
        Assert.Equal(3, preds.Count);
        Assert.All(preds, p => Assert.Equal(1f, p.Probabilities.Sum(), 4));
        Assert.All(preds, p => Assert.True(p.Top[0].Probability >= p.Top[1].Probability));
        Assert.Equal("circle", preds[0].Top[0].Label);
    }

    [Fact]
    public void Mixup_and_cutmix_targets_are_consistent()
    {
        var rng = new Rng(1);
        var mix = new MixupCutmix(4, mixupAlpha: 0, cutmixAlpha: 1.0, labelSmoothing: 0.1);
        var images = Tensor.Zeros(2, 1, 8, 8);
        images.AsSpan()[..64].Fill(1f); // sample 0 is all ones, sample 1 all zeros
        var t = mix.Apply(images, [0, 3], rng, out var decision);
        double lam = decision.Lambda;
        // Sample 0 keeps a fraction λ of its pixels, the box came from sample 1.
        Assert.Equal(lam, images.AsSpan()[..64].ToArray().Average(), 6);
        var row = t[..4];
        Assert.Equal(1f, row.Sum(), 5);
        Assert.Equal(0.1 / 4 + lam * 0.9, row[0], 5);
        Assert.Equal(0.1 / 4 + (1 - lam) * 0.9, row[3], 5);

        var blend = new MixupCutmix(2, mixupAlpha: 0.4, cutmixAlpha: 0);
        var im2 = Tensor.FromArray([1f, 1, 1, 1, 0, 0, 0, 0], 2, 1, 2, 2);
        blend.Apply(im2, [0, 1], rng, out var d2);
        Assert.All(im2.AsSpan()[..4].ToArray(), v => Assert.Equal((float)d2.Lambda, v, 5));
        for (int k = 0; k < 200; k++)
        {
            double b = MixupCutmix.SampleBeta(rng, 0.2);
            Assert.InRange(b, 0, 1);
        }
    }
}
