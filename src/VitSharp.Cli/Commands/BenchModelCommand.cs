using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VitSharp.Kernels;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit bench model`: whole-model speed — inference (forward, eval mode, no grad) or a training step (forward,
/// cross-entropy, backward, optimiser step) — as images/s and ms per batch (median of runs), beside the FMA peak
/// measured in the same run, with managed bytes allocated per steady-state step and the peak working set.
/// </summary>
internal static class BenchModelCommand
{
    internal static Command Build()
    {
        var model = new Option<string>("--model") { Description = "Zoo model name (e.g. vit_base_patch16_224, vit_tiny_patch16_224, vit_mnist_patch4_28).", Required = true };
        var batch = new Option<int>("--batch") { Description = "Images per step.", DefaultValueFactory = _ => 1 };
        var mode = new Option<string>("--mode") { Description = "infer | train.", DefaultValueFactory = _ => "infer" };
        var optimizer = new Option<string>("--optimizer") { Description = "Training optimiser: sgd (momentum 0.9) | adamw.", DefaultValueFactory = _ => "sgd" };
        var classes = new Option<int?>("--num-classes") { Description = "Override the model's class count (the peers use 10 for ViT-Tiny)." };
        var runs = new Option<int>("--runs") { Description = "Timed runs; the median is reported.", DefaultValueFactory = _ => 5 };
        var seconds = new Option<double>("--seconds") { Description = "Minimum seconds per timed run.", DefaultValueFactory = _ => 1.0 };
        var threads = new Option<int>("--threads") { Description = "Worker threads (default: VIT_THREADS or all cores)." };
        var json = new Option<bool>("--json") { Description = "Print one JSON object." };
        var profile = new Option<bool>("--profile") { Description = "Also print where the time goes, per operation." };
        var general = new Option<bool>("--general") { Description = "Use the general autograd path instead of the planned one (for comparison)." };
        var cmd = new Command("model", "Whole-model images/s (inference or training step) versus the same-run FMA peak.");
        foreach (var o in new Option[] { model, batch, mode, optimizer, classes, runs, seconds, threads, json, profile, general }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            var s = new Settings(parse.GetValue(model)!, parse.GetValue(batch), parse.GetValue(mode)!, parse.GetValue(optimizer)!,
                parse.GetValue(classes), parse.GetValue(runs), parse.GetValue(seconds), parse.GetValue(threads), parse.GetValue(json),
                parse.GetValue(profile), parse.GetValue(general));
            Run(s.Validate());
            return 0;
        });
        return cmd;
    }

    private sealed record Settings(string Model, int Batch, string Mode, string Optimizer, int? NumClasses, int Runs, double Seconds,
        int Threads, bool Json, bool Profile, bool General)
    {
        public Settings Validate()
        {
            if (!ModelZoo.Contains(Model))
            {
                var near = ModelZoo.Suggest(Model);
                throw new VitException($"bench model: unknown model '{Model}'{(near.Count > 0 ? $"; did you mean {string.Join(", ", near)}?" : "")}");
            }
            if (Batch < 1) throw new VitException($"bench model: --batch must be at least 1, got {Batch}");
            if (Mode is not ("infer" or "train")) throw new VitException($"bench model: --mode must be infer or train, got '{Mode}'");
            if (Optimizer is not ("sgd" or "adamw")) throw new VitException($"bench model: --optimizer must be sgd or adamw, got '{Optimizer}'");
            if (NumClasses is < 1) throw new VitException($"bench model: --num-classes must be at least 1, got {NumClasses}");
            if (Runs < 1) throw new VitException($"bench model: --runs must be at least 1, got {Runs}");
            if (!(Seconds > 0)) throw new VitException($"bench model: --seconds must be positive, got {Seconds}");
            if (Threads < 0) throw new VitException($"bench model: --threads must be positive, got {Threads}");
            return this;
        }
    }

    private static void Run(Settings s)
    {
        if (s.Threads > 0) Workers.ThreadCount = s.Threads;
        int threads = Workers.ThreadCount;
        var vit = ModelZoo.Create(s.Model, c => s.NumClasses is int n ? c with { NumClasses = n } : c, new Rng(0));
        var cfg = vit.Config;
        bool train = s.Mode == "train";
        var rnd = new Random(1);
        var images = Tensor.RandN(rnd, 1f, s.Batch, cfg.InChans, cfg.ImgHeight, cfg.ImgWidth);
        var labels = new int[s.Batch];
        for (int i = 0; i < labels.Length; i++) labels[i] = rnd.Next(Math.Max(cfg.NumClasses, 1));

        IBenchStep step = train
            ? new TrainBench(vit, s.Optimizer, images, labels, s.General)
            : new InferBench(vit, images, s.General);
        string path = step.Path;

        // Warm-up: JIT, pools and planned buffers reach their steady state.
        for (int i = 0; i < 3; i++) step.Step();
        double single = TimeOnce(step);
        int reps = Math.Max(1, (int)Math.Ceiling(s.Seconds / Math.Max(single, 1e-6)));

        long alloc0 = GC.GetTotalAllocatedBytes(precise: true);
        for (int i = 0; i < 2; i++) step.Step();
        long allocPerStep = (GC.GetTotalAllocatedBytes(precise: true) - alloc0) / 2;

        var perBatch = new double[s.Runs];
        for (int r = 0; r < s.Runs; r++)
        {
            long t0 = Stopwatch.GetTimestamp();
            for (int i = 0; i < reps; i++) step.Step();
            perBatch[r] = Stopwatch.GetElapsedTime(t0).TotalSeconds / reps;
        }
        var sorted = perBatch.Order().ToArray();
        double median = sorted[sorted.Length / 2];

        Profile? profile = null;
        if (s.Profile)
        {
            Profiler.Reset();
            Profiler.Enabled = true;
            try
            {
                long t0 = Stopwatch.GetTimestamp();
                for (int i = 0; i < reps; i++) step.Step();
                profile = new Profile(Profiler.Snapshot(), Stopwatch.GetElapsedTime(t0).TotalSeconds, reps);
            }
            finally { Profiler.Enabled = false; }
        }

        double peak = Peak.MeasureGflops(threads, 0.5);
        double flopsPerImage = vit.FlopsPerImage() * (train ? 3 : 1);
        // The planned paths skip work whose result is never read (the last block for the class token only): the
        // model's FLOPs give the usual figure, the executed FLOPs what the kernels actually reached.
        double executedPerImage = path == "planned" ? 2.0 * ModelZoo.PlannedMacsPerImage(cfg) * (train ? 3 : 1) : flopsPerImage;
        double ips = s.Batch / median;
        double gflops = flopsPerImage * ips / 1e9;
        double gflopsExecuted = executedPerImage * ips / 1e9;
        long workingSet = PeakWorkingSet();
        if (s.Json)
        {
            using var stream = Console.OpenStandardOutput();
            using (var w = new Utf8JsonWriter(stream))
            {
                w.WriteStartObject();
                w.WriteString("model", s.Model);
                w.WriteNumber("batch", s.Batch);
                w.WriteString("mode", s.Mode);
                if (train) w.WriteString("optimizer", s.Optimizer);
                w.WriteString("path", path);
                w.WriteNumber("threads", threads);
                w.WriteNumber("images_per_second", Math.Round(ips, 3));
                w.WriteNumber("ms_per_batch", Math.Round(median * 1e3, 3));
                w.WriteNumber("ms_per_batch_min", Math.Round(sorted[0] * 1e3, 3));
                w.WriteNumber("ms_per_batch_max", Math.Round(sorted[^1] * 1e3, 3));
                w.WriteNumber("gflops_per_image", Math.Round(flopsPerImage / 1e9, 4));
                w.WriteNumber("gflops", Math.Round(gflops, 2));
                w.WriteNumber("peak_gflops", Math.Round(peak, 2));
                w.WriteNumber("fraction_of_peak", Math.Round(gflops / peak, 4));
                w.WriteNumber("gflops_per_image_executed", Math.Round(executedPerImage / 1e9, 4));
                w.WriteNumber("fraction_of_peak_executed", Math.Round(gflopsExecuted / peak, 4));
                w.WriteNumber("allocated_bytes_per_step", allocPerStep);
                w.WriteNumber("peak_working_set_bytes", workingSet);
                if (profile != null)
                {
                    w.WriteStartArray("profile");
                    foreach (var e in profile.Entries)
                    {
                        w.WriteStartObject();
                        w.WriteString("op", e.Name);
                        w.WriteNumber("calls_per_step", Math.Round((double)e.Calls / profile.Reps, 2));
                        w.WriteNumber("ms_per_step", Math.Round(e.Seconds / profile.Reps * 1e3, 3));
                        w.WriteNumber("fraction", Math.Round(e.Seconds / profile.Seconds, 4));
                        w.WriteEndObject();
                    }
                    w.WriteEndArray();
                }
                w.WriteEndObject();
            }
            stream.WriteByte((byte)'\n');
            return;
        }
        var inv = CultureInfo.InvariantCulture;
        Console.WriteLine(string.Format(inv, "{0} {1} batch {2}{3}, {4} path, {5} threads, SIMD {6}", s.Model, s.Mode, s.Batch,
            train ? $" ({s.Optimizer})" : "", path, threads, Cpu.Level));
        Console.WriteLine(string.Format(inv, "  {0:F2} ms per batch (median of {1} runs × {2}; min {3:F2}, max {4:F2})", median * 1e3, s.Runs, reps, sorted[0] * 1e3, sorted[^1] * 1e3));
        Console.WriteLine(string.Format(inv, "  {0:F2} images/s, {1:F3} GFLOP per image{2} → {3:F1} GFLOP/s = {4:P1} of the {5:F1} GFLOP/s FMA peak",
            ips, flopsPerImage / 1e9, train ? " (3× forward)" : "", gflops, gflops / peak, peak));
        if (executedPerImage != flopsPerImage)
            Console.WriteLine(string.Format(inv, "  executed: {0:F3} GFLOP per image (the last block runs for the class token only) → {1:F1} GFLOP/s = {2:P1} of peak",
                executedPerImage / 1e9, gflopsExecuted, gflopsExecuted / peak));
        Console.WriteLine(string.Format(inv, "  managed bytes allocated per step: {0:N0}; peak working set {1:F1} MiB", allocPerStep, workingSet / 1048576.0));
        if (profile != null)
        {
            Console.WriteLine(string.Format(inv, "  profile ({0:F2} ms per step measured with timers on):", profile.Seconds / profile.Reps * 1e3));
            Console.WriteLine($"    {"op",-34} {"calls",7} {"ms/step",9} {"share",7}");
            foreach (var e in profile.Entries)
                Console.WriteLine(string.Format(inv, "    {0,-34} {1,7:F1} {2,9:F3} {3,7:P1}", e.Name, (double)e.Calls / profile.Reps, e.Seconds / profile.Reps * 1e3, e.Seconds / profile.Seconds));
        }
    }

    private sealed record Profile(IReadOnlyList<ProfileEntry> Entries, double Seconds, int Reps);

    private static double TimeOnce(IBenchStep step)
    {
        long t0 = Stopwatch.GetTimestamp();
        step.Step();
        return Stopwatch.GetElapsedTime(t0).TotalSeconds;
    }

    private static long PeakWorkingSet()
    {
        using var p = Process.GetCurrentProcess();
        p.Refresh();
        return p.PeakWorkingSet64;
    }

    private interface IBenchStep
    {
        string Path { get; }
        void Step();
    }

    private sealed class InferBench(VisionTransformer model, Tensor images, bool general) : IBenchStep
    {
        private readonly VitInference runner = new(Prepare(model), images.Shape[0], consumeWeights: !general) { ForceGeneral = general };

        public string Path => runner.PathName;

        public void Step() => runner.Run(images);

        private static VisionTransformer Prepare(VisionTransformer m)
        {
            m.Eval();
            return m;
        }
    }

    private sealed class TrainBench : IBenchStep
    {
        private readonly VitTrainStep runner;
        private readonly Optimizer optimizer;
        private readonly Tensor images;
        private readonly int[] labels;

        public TrainBench(VisionTransformer model, string optimizerName, Tensor images, int[] labels, bool general)
        {
            model.Train();
            this.images = images;
            this.labels = labels;
            var parameters = model.NamedParameters().ToList();
            var groups = ParamGroups.WithNoDecay(parameters, optimizerName == "adamw" ? 0.05 : 0.0);
            optimizer = optimizerName == "adamw" ? new AdamW(groups, 1e-3) : new Sgd(groups, 0.01, 0.9);
            runner = new VitTrainStep(model, images.Shape[0], general);
        }

        public string Path => runner.PathName;

        private static readonly int IdOptimizer = Profiler.Register("optimizer step");

        public void Step()
        {
            runner.ForwardBackward(images, labels);
            using (Profiler.Time(IdOptimizer)) optimizer.Step();
        }
    }
}
