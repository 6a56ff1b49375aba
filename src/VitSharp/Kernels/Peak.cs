using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>
/// Practical fp32 FMA peak of this machine, measured the way our kernels run: register-only chains of independent
/// fused multiply-adds on every worker thread at once. Benchmarks report GEMM speed as a fraction of this
/// same-run figure, which is more honest than a nominal peak on a shared or throttled VM.
/// </summary>
public static class Peak
{
    /// <summary>
    /// Measures GFLOP/s (2 flops per FMA lane) with <paramref name="threads"/> threads (default: the worker
    /// count) for about <paramref name="seconds"/>; returns the median of <paramref name="runs"/> timed runs
    /// after one warm-up run. Uses the widest vector the current <see cref="Cpu.Level"/> allows.
    /// </summary>
    public static double MeasureGflops(int threads = 0, double seconds = 0.5, int runs = 5)
    {
        if (threads <= 0) threads = Workers.ThreadCount;
        var level = Cpu.Level;
        int lanes = level switch { SimdLevel.Vector512 => 16, SimdLevel.Vector256 => 8, _ => 1 };
        // Calibrate the iteration count on one thread so a run lasts about seconds/runs.
        long iters = 1 << 16;
        while (true)
        {
            var sw = Stopwatch.StartNew();
            Chains(level, iters, 1f);
            if (sw.Elapsed.TotalSeconds > 0.02) { iters = (long)(iters * (seconds / runs) / sw.Elapsed.TotalSeconds); break; }
            iters *= 4;
        }
        iters = Math.Max(iters, 1024);
        int saved = Workers.ThreadCount;
        Workers.ThreadCount = threads;
        try
        {
            var job = new PeakJob { Level = level, Iterations = iters };
            Workers.For(threads, job); // warm-up: wakes the workers, settles clocks
            var results = new double[runs];
            for (int r = 0; r < runs; r++)
            {
                var sw = Stopwatch.StartNew();
                Workers.For(threads, job);
                double t = sw.Elapsed.TotalSeconds;
                results[r] = 2.0 * lanes * Accumulators * iters * threads / t / 1e9;
            }
            Array.Sort(results);
            return results[runs / 2];
        }
        finally
        {
            Workers.ThreadCount = saved;
        }
    }

    private const int Accumulators = 16;

    private struct PeakJob : IParallelJob
    {
        public SimdLevel Level;
        public long Iterations;
        public void Execute(int index) => Sink = Chains(Level, Iterations, 1f + index);
    }

    /// <summary>Keeps the results observable so the JIT cannot drop the loops.</summary>
    private static float Sink;

    private static float Chains(SimdLevel level, long iters, float seed) => level switch
    {
        SimdLevel.Vector512 => Chains512(iters, seed),
        SimdLevel.Vector256 => Chains256(iters, seed),
        _ => ChainsScalar(iters, seed),
    };

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains512(long iters, float seed)
    {
        var m = Vector512.Create(0.9999999f);
        var c = Vector512.Create(1e-7f);
        Vector512<float> a0 = Vector512.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c;
        Vector512<float> a4 = a3 + c, a5 = a4 + c, a6 = a5 + c, a7 = a6 + c;
        Vector512<float> a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        Vector512<float> a12 = a11 + c, a13 = a12 + c, a14 = a13 + c, a15 = a14 + c;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector512.FusedMultiplyAdd(a0, m, c); a1 = Vector512.FusedMultiplyAdd(a1, m, c);
            a2 = Vector512.FusedMultiplyAdd(a2, m, c); a3 = Vector512.FusedMultiplyAdd(a3, m, c);
            a4 = Vector512.FusedMultiplyAdd(a4, m, c); a5 = Vector512.FusedMultiplyAdd(a5, m, c);
            a6 = Vector512.FusedMultiplyAdd(a6, m, c); a7 = Vector512.FusedMultiplyAdd(a7, m, c);
            a8 = Vector512.FusedMultiplyAdd(a8, m, c); a9 = Vector512.FusedMultiplyAdd(a9, m, c);
            a10 = Vector512.FusedMultiplyAdd(a10, m, c); a11 = Vector512.FusedMultiplyAdd(a11, m, c);
            a12 = Vector512.FusedMultiplyAdd(a12, m, c); a13 = Vector512.FusedMultiplyAdd(a13, m, c);
            a14 = Vector512.FusedMultiplyAdd(a14, m, c); a15 = Vector512.FusedMultiplyAdd(a15, m, c);
        }
        var s = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + (((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15)));
        return Vector512.Sum(s);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float Chains256(long iters, float seed)
    {
        var m = Vector256.Create(0.9999999f);
        var c = Vector256.Create(1e-7f);
        Vector256<float> a0 = Vector256.Create(seed), a1 = a0 + c, a2 = a1 + c, a3 = a2 + c;
        Vector256<float> a4 = a3 + c, a5 = a4 + c, a6 = a5 + c, a7 = a6 + c;
        Vector256<float> a8 = a7 + c, a9 = a8 + c, a10 = a9 + c, a11 = a10 + c;
        Vector256<float> a12 = a11 + c, a13 = a12 + c, a14 = a13 + c, a15 = a14 + c;
        for (long i = 0; i < iters; i++)
        {
            a0 = Vector256.FusedMultiplyAdd(a0, m, c); a1 = Vector256.FusedMultiplyAdd(a1, m, c);
            a2 = Vector256.FusedMultiplyAdd(a2, m, c); a3 = Vector256.FusedMultiplyAdd(a3, m, c);
            a4 = Vector256.FusedMultiplyAdd(a4, m, c); a5 = Vector256.FusedMultiplyAdd(a5, m, c);
            a6 = Vector256.FusedMultiplyAdd(a6, m, c); a7 = Vector256.FusedMultiplyAdd(a7, m, c);
            a8 = Vector256.FusedMultiplyAdd(a8, m, c); a9 = Vector256.FusedMultiplyAdd(a9, m, c);
            a10 = Vector256.FusedMultiplyAdd(a10, m, c); a11 = Vector256.FusedMultiplyAdd(a11, m, c);
            a12 = Vector256.FusedMultiplyAdd(a12, m, c); a13 = Vector256.FusedMultiplyAdd(a13, m, c);
            a14 = Vector256.FusedMultiplyAdd(a14, m, c); a15 = Vector256.FusedMultiplyAdd(a15, m, c);
        }
        var s = (((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7))) + (((a8 + a9) + (a10 + a11)) + ((a12 + a13) + (a14 + a15)));
        return Vector256.Sum(s);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static float ChainsScalar(long iters, float seed)
    {
        float m = 0.9999999f, c = 1e-7f;
        float a0 = seed, a1 = seed + 1, a2 = seed + 2, a3 = seed + 3, a4 = seed + 4, a5 = seed + 5, a6 = seed + 6, a7 = seed + 7;
        float a8 = seed + 8, a9 = seed + 9, a10 = seed + 10, a11 = seed + 11, a12 = seed + 12, a13 = seed + 13, a14 = seed + 14, a15 = seed + 15;
        for (long i = 0; i < iters; i++)
        {
            a0 = MathF.FusedMultiplyAdd(a0, m, c); a1 = MathF.FusedMultiplyAdd(a1, m, c);
            a2 = MathF.FusedMultiplyAdd(a2, m, c); a3 = MathF.FusedMultiplyAdd(a3, m, c);
            a4 = MathF.FusedMultiplyAdd(a4, m, c); a5 = MathF.FusedMultiplyAdd(a5, m, c);
            a6 = MathF.FusedMultiplyAdd(a6, m, c); a7 = MathF.FusedMultiplyAdd(a7, m, c);
            a8 = MathF.FusedMultiplyAdd(a8, m, c); a9 = MathF.FusedMultiplyAdd(a9, m, c);
            a10 = MathF.FusedMultiplyAdd(a10, m, c); a11 = MathF.FusedMultiplyAdd(a11, m, c);
            a12 = MathF.FusedMultiplyAdd(a12, m, c); a13 = MathF.FusedMultiplyAdd(a13, m, c);
            a14 = MathF.FusedMultiplyAdd(a14, m, c); a15 = MathF.FusedMultiplyAdd(a15, m, c);
        }
        return a0 + a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8 + a9 + a10 + a11 + a12 + a13 + a14 + a15;
    }
}
