using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using VitSharp.Kernels;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit bench gemm`: the same-run FMA peak, then GFLOP/s and fraction of peak for 2048³ and the ViT-B/16 GEMM
/// shapes (batch 1 = 197 rows, batch 8 = 1576 rows), NN and NT (B stored n×k, as nn.Linear stores weights), NT with
/// the weight pre-packed, the training step's forward / dX / dW GEMMs of ViT-Ti (b32) and the MNIST ViT (b128), and
/// the fused attention kernel: 12 heads × 197 tokens × 64, then forward and backward on the
/// strided qkv layout of the planned paths for ViT-B and ViT-Ti (197 × 64), the MNIST ViT (50 × 32) and the demo (17 × 24).
/// </summary>
internal static class BenchGemmCommand
{
    /// <summary>A GEMM shape; TransA (A stored k×m) comes with the bias-gradient row sums, as the training step's
    /// weight-gradient GEMMs run it (dW = dYᵀ·X, db = Σ dY).</summary>
    private sealed record Shape(string Name, int M, int N, int K, bool TransB, bool Prepacked = false, bool TransA = false);

    private sealed record Result(string Name, int M, int N, int K, double Gflops);

    internal static Command Build()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var threads = new Option<int>("--threads") { Description = "Worker threads (default: VIT_THREADS or all cores)." };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds per shape (default 0.6).", DefaultValueFactory = _ => 0.6 };
        var filter = new Option<string?>("--filter") { Description = "Only run shapes whose name contains this text." };
        var cpuTime = new Option<bool>("--cpu-time")
        {
            Description = "Time with process CPU time ÷ threads instead of wall time, for peak and GEMM alike "
                + "(a fairer fraction of peak on a machine shared with other work).",
        };
        var cmd = new Command("gemm", "GEMM GFLOP/s versus the same-run FMA peak (2048³ and ViT-B/16 shapes, NN and NT).");
        cmd.Options.Add(json);
        cmd.Options.Add(threads);
        cmd.Options.Add(seconds);
        cmd.Options.Add(filter);
        cmd.Options.Add(cpuTime);
        cmd.SetAction(parse =>
        {
            int t = parse.GetValue(threads);
            double s = parse.GetValue(seconds);
            if (t < 0) throw new VitException($"bench gemm: --threads must be positive, got {t}");
            if (!(s > 0)) throw new VitException($"bench gemm: --seconds must be positive, got {s}");
            Clock.UseCpuTime = parse.GetValue(cpuTime);
            Run(parse.GetValue(json), t, s, parse.GetValue(filter));
            return 0;
        });
        return cmd;
    }

    private static IEnumerable<Shape> Shapes()
    {
        yield return new Shape("sgemm 2048^3 NN", 2048, 2048, 2048, false);
        foreach (int rows in new[] { 197, 1576 })
        {
            foreach (bool nt in new[] { false, true })
            {
                string suffix = $"{(rows == 197 ? "b1" : "b8")} {(nt ? "NT" : "NN")}";
                yield return new Shape($"vit-b qkv {suffix}", rows, 2304, 768, nt);
                yield return new Shape($"vit-b fc1 {suffix}", rows, 3072, 768, nt);
                yield return new Shape($"vit-b fc2 {suffix}", rows, 768, 3072, nt);
                yield return new Shape($"vit-b proj {suffix}", rows, 768, 768, nt);
            }
        }
        // What the model runs: nn.Linear weights (n×k) packed once at load (Gemm.PackB), so no B packing per call.
        foreach (int rows in new[] { 197, 1576 })
        {
            string suffix = $"{(rows == 197 ? "b1" : "b8")} NT packed";
            yield return new Shape($"vit-b qkv {suffix}", rows, 2304, 768, true, true);
            yield return new Shape($"vit-b fc1 {suffix}", rows, 3072, 768, true, true);
            yield return new Shape($"vit-b fc2 {suffix}", rows, 768, 3072, true, true);
            yield return new Shape($"vit-b proj {suffix}", rows, 768, 768, true, true);
        }
        // The training step's GEMMs per Linear (out × in): forward y = x·Wᵀ (NT), dX = dY·W (NN), dW = dYᵀ·X (TN,
        // k = batch·tokens, with the bias-gradient row sums).
        foreach (var (model, rows, d) in new[] { ("vit-ti b32", 6304, 192), ("mnist b128", 6400, 128) })
        {
            foreach (var (layer, outF, inF) in new[] { ("qkv", 3 * d, d), ("proj", d, d), ("fc1", 4 * d, d), ("fc2", d, 4 * d) })
            {
                yield return new Shape($"train {model} {layer} fwd", rows, outF, inF, true);
                yield return new Shape($"train {model} {layer} dX", rows, inF, outF, false);
                yield return new Shape($"train {model} {layer} dW", outF, inF, rows, false, TransA: true);
            }
        }
    }

    private static void Run(bool json, int threads, double seconds, string? filter)
    {
        if (threads > 0) Workers.ThreadCount = threads;
        threads = Workers.ThreadCount;
        double peak = Clock.UseCpuTime ? CpuPeak(threads, seconds) : Peak.MeasureGflops(threads, Math.Max(0.5, seconds));
        if (!json)
        {
            Console.WriteLine($"threads {threads}, SIMD {Cpu.Level}, FMA peak {peak:F1} GFLOP/s{(Clock.UseCpuTime ? " (CPU time)" : "")}, load average {LoadAverage()}");
            Console.WriteLine($"{"shape",-24} {"M",6} {"N",6} {"K",6} {"GFLOP/s",9} {"of peak",8}");
        }
        var results = new List<Result>();
        foreach (var shape in Shapes())
        {
            if (filter != null && !shape.Name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
            var r = new Result(shape.Name, shape.M, shape.N, shape.K, MeasureGemm(shape, seconds));
            results.Add(r);
            if (!json) Console.WriteLine($"{r.Name,-24} {r.M,6} {r.N,6} {r.K,6} {r.Gflops,9:F1} {r.Gflops / peak,8:P1}");
        }
        const string attName = "attention 12 heads x197x64";
        if (filter == null || attName.Contains(filter, StringComparison.OrdinalIgnoreCase))
        {
            // Fused softmax(q·kᵀ/√d)·v of one ViT-B/16 image; m = n = tokens, k = head dim; flops of both products.
            var r = new Result(attName, 197, 197, 64, MeasureAttention(12, 197, 64, seconds));
            results.Add(r);
            if (!json) Console.WriteLine($"{r.Name,-24} {r.M,6} {r.N,6} {r.K,6} {r.Gflops,9:F1} {r.Gflops / peak,8:P1}");
        }
        foreach (var a in AttentionShapes())
        {
            // "bwd saved": the backward reading the probabilities the forward saved (training with head dim ≥ 64).
            foreach (var (backward, saved) in new[] { (false, false), (true, false), (true, true) })
            {
                string name = $"attn {a.Name} {(backward ? saved ? "bwd saved" : "bwd" : "fwd")}";
                if (filter != null && !name.Contains(filter, StringComparison.OrdinalIgnoreCase)) continue;
                var r = new Result(name, a.Tokens, a.Tokens, a.Dh, MeasureAttentionFused(a, backward, saved, seconds));
                results.Add(r);
                if (!json) Console.WriteLine($"{r.Name,-24} {r.M,6} {r.N,6} {r.K,6} {r.Gflops,9:F1} {r.Gflops / peak,8:P1}");
            }
        }
        if (json) WriteJson(peak, results);
    }

    private static double MeasureGemm(Shape s, double seconds)
    {
        var rng = new Random(42);
        var a = RandomArray(rng, s.M * s.K);
        var b = RandomArray(rng, s.K * s.N);
        var c = new float[s.M * s.N];
        int ldb = s.TransB ? s.K : s.N;
        var packed = s.Prepacked ? Gemm.PackB(s.TransB, s.K, s.N, b, ldb) : null;
        var sums = new float[s.M];
        void Once()
        {
            if (packed != null) Gemm.Sgemm(false, s.M, 1f, a, s.K, packed, 0f, c, s.N);
            else if (s.TransA) Gemm.SgemmWithRowSums(true, false, s.M, s.N, s.K, 1f, a, s.M, b, ldb, 0f, c, s.N, sums);
            else Gemm.Sgemm(false, s.TransB, s.M, s.N, s.K, 1f, a, s.K, b, ldb, 0f, c, s.N);
        }
        return Time(Once, 2.0 * s.M * s.N * s.K, seconds);
    }

    private static double MeasureAttention(int heads, int tokens, int dh, double seconds)
    {
        var rng = new Random(7);
        int n = heads * tokens * dh;
        var q = RandomArray(rng, n);
        var k = RandomArray(rng, n);
        var v = RandomArray(rng, n);
        var o = new float[n];
        float scale = 1f / MathF.Sqrt(dh);
        void Once() => Attention.Forward(q, k, v, o, 1, heads, tokens, dh, scale);
        return Time(Once, 4.0 * heads * tokens * tokens * dh, seconds);
    }

    private sealed record AttentionShape(string Name, int Batch, int Heads, int Tokens, int Dh);

    /// <summary>Attention as the planned ViT paths run it (q, k, v column blocks of the fused qkv rows, o merged).</summary>
    private static IEnumerable<AttentionShape> AttentionShapes()
    {
        yield return new AttentionShape("vit-b b1", 1, 12, 197, 64);
        yield return new AttentionShape("vit-ti b1", 1, 3, 197, 64);
        yield return new AttentionShape("vit-ti b8", 8, 3, 197, 64);
        yield return new AttentionShape("vit-ti b32", 32, 3, 197, 64);
        yield return new AttentionShape("mnist b128", 128, 4, 50, 32);
        yield return new AttentionShape("demo b128", 128, 4, 17, 24);
    }

    /// <summary>
    /// The forward (with the log-sum-exp saved, as training runs it; flops of S = q·kᵀ and P·v) or the backward
    /// (dq, dk, dv written strided into a dqkv matrix; flops of its five products: S, dP, dV, dK, dQ, counted as five
    /// also when <paramref name="saved"/> lets it read the forward's probabilities instead of recomputing S).
    /// </summary>
    private static unsafe double MeasureAttentionFused(AttentionShape a, bool backward, bool saved, double seconds)
    {
        var rng = new Random(7);
        int d = a.Heads * a.Dh, rows = a.Batch * a.Tokens;
        var qkv = RandomArray(rng, rows * 3 * d);
        var g = RandomArray(rng, rows * d);
        var o = RandomArray(rng, rows * d);
        var dqkv = RandomArray(rng, rows * 3 * d);
        var lse = RandomArray(rng, a.Batch * a.Heads * a.Tokens);
        var probs = saved ? GC.AllocateUninitializedArray<float>((int)Attention.ProbabilitiesLength(a.Batch, a.Heads, a.Tokens, a.Tokens), pinned: true) : [];
        var qs = new AttentionStrides((long)a.Tokens * 3 * d, a.Dh, 3 * d);
        var os = new AttentionStrides((long)a.Tokens * d, a.Dh, d);
        float scale = 1f / MathF.Sqrt(a.Dh);
        void Forward()
        {
            fixed (float* pq = qkv, po = o, pl = lse, pp = probs)
                Attention.Forward(pq, qs, pq + d, qs, pq + 2 * d, qs, po, os, pl, a.Batch, a.Heads, a.Tokens, a.Tokens, a.Dh, scale, probs: pp);
        }
        void Backward()
        {
            fixed (float* pq = qkv, po = o, pl = lse, pg = g, pd = dqkv, pp = probs)
                Attention.Backward(pq, qs, pq + d, qs, pq + 2 * d, qs, po, os, pl, pg, os, pd, qs, pd + d, qs, pd + 2 * d, qs,
                    a.Batch, a.Heads, a.Tokens, a.Tokens, a.Dh, scale, probs: pp);
        }
        Forward(); // a real o and lse for the backward
        double pairs = (double)a.Batch * a.Heads * a.Tokens * a.Tokens * a.Dh;
        return backward ? Time(Backward, 10 * pairs, seconds) : Time(Forward, 4 * pairs, seconds);
    }

    /// <summary>Median GFLOP/s of 5 samples after warm-up; each sample repeats the call for ≥ seconds/5.</summary>
    internal static double Time(Action once, double flops, double seconds)
    {
        once();
        var sw = Stopwatch.StartNew();
        once();
        double single = Math.Max(sw.Elapsed.TotalSeconds, 1e-7);
        const int samples = 5;
        int reps = Math.Max(1, (int)(seconds / samples / single));
        var gflops = new double[samples];
        for (int i = 0; i < samples; i++)
        {
            double t0 = Clock.Now();
            for (int r = 0; r < reps; r++) once();
            gflops[i] = flops * reps / (Clock.Now() - t0) / 1e9;
        }
        Array.Sort(gflops);
        // VIT_BENCH_STAT=max reports the best sample (a tuning aid on a machine shared with other jobs).
        return Environment.GetEnvironmentVariable("VIT_BENCH_STAT") == "max" ? gflops[^1] : gflops[samples / 2];
    }

    /// <summary>The FMA peak timed with the same clock as the GEMMs (CPU-time mode).</summary>
    private static double CpuPeak(int threads, double seconds)
    {
        // Peak.MeasureGflops reports wall-clock GFLOP/s; rescale each run by wall/CPU of the same runs.
        var results = new double[5];
        for (int i = 0; i < results.Length; i++)
        {
            double w0 = Stopwatch.GetTimestamp(), c0 = Clock.CpuSeconds();
            double g = Peak.MeasureGflops(threads, Math.Max(0.2, seconds / 2), 1);
            double wall = (Stopwatch.GetTimestamp() - w0) / Stopwatch.Frequency, cpu = (Clock.CpuSeconds() - c0) / threads;
            results[i] = g * wall / Math.Max(cpu, 1e-9);
        }
        Array.Sort(results);
        return results[results.Length / 2];
    }

    /// <summary>Wall clock, or process CPU seconds ÷ worker threads (clock_gettime(CLOCK_PROCESS_CPUTIME_ID)).</summary>
    private static class Clock
    {
        public static bool UseCpuTime;

        public static double Now() => UseCpuTime ? CpuSeconds() / Workers.ThreadCount : Stopwatch.GetTimestamp() / (double)Stopwatch.Frequency;

        public static double CpuSeconds()
        {
            if (clock_gettime(2, out var ts) != 0) throw new VitException("bench gemm: --cpu-time needs clock_gettime (Linux)");
            return ts.Sec + ts.Nsec * 1e-9;
        }

        private struct Timespec
        {
            public long Sec;
            public long Nsec;
        }

        [System.Runtime.InteropServices.DllImport("libc", SetLastError = false)]
        private static extern int clock_gettime(int clock, out Timespec ts);
    }

    private static float[] RandomArray(Random rng, int length)
    {
        var x = GC.AllocateUninitializedArray<float>(length, pinned: true);
        for (int i = 0; i < length; i++) x[i] = (float)(rng.NextDouble() * 2 - 1);
        return x;
    }

    private static string LoadAverage()
    {
        try
        {
            var parts = File.ReadAllText("/proc/loadavg").Split(' ');
            return string.Join(' ', parts.Take(3));
        }
        catch (IOException)
        {
            return "n/a";
        }
    }

    private static void WriteJson(double peak, List<Result> results)
    {
        using var stream = Console.OpenStandardOutput();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = false }))
        {
            w.WriteStartObject();
            w.WriteNumber("peak_gflops", Math.Round(peak, 2));
            w.WriteStartArray("results");
            foreach (var r in results)
            {
                w.WriteStartObject();
                w.WriteString("name", r.Name);
                w.WriteNumber("m", r.M);
                w.WriteNumber("n", r.N);
                w.WriteNumber("k", r.K);
                w.WriteNumber("gflops", Math.Round(r.Gflops, 2));
                w.WriteNumber("fraction_of_peak", Math.Round(r.Gflops / peak, 4));
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        stream.WriteByte((byte)'\n');
    }
}
