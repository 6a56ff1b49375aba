using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>
/// Inverted dropout with a counter-based mask: element i is kept when hash(seed, i) ≥ p·2²⁴. The mask is a pure
/// function of (seed, index), so it is the same for any thread count and the backward regenerates it instead
/// of storing it.
/// </summary>
public static unsafe class Dropout
{
    private const int Chunk = 1 << 14;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Keep(ulong seed, long i, uint threshold)
    {
        ulong z = seed + (ulong)i * 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (uint)(z >> 40) >= threshold;
    }

    /// <summary>y[i] = x[i] / (1 - p) where kept, else 0. Also used for the backward (x = dy).</summary>
    public static void Apply(ReadOnlySpan<float> x, Span<float> y, float p, ulong seed)
    {
        if (y.Length < x.Length) throw new ArgumentException("output shorter than input", nameof(y));
        uint thr = (uint)Math.Min(p * (1 << 24), 1 << 24);
        float scale = p >= 1 ? 0f : 1f / (1f - p);
        fixed (float* px = x, py = y)
        {
            var job = new Job { X = px, Y = py, N = x.Length, Thr = thr, Scale = scale, Seed = seed };
            int chunks = (x.Length + Chunk - 1) / Chunk;
            if (chunks <= 1) for (int c = 0; c < chunks; c++) job.Execute(c);
            else Workers.For(chunks, job);
        }
    }

    private struct Job : IParallelJob
    {
        public float* X, Y;
        public int N;
        public uint Thr;
        public float Scale;
        public ulong Seed;
        public readonly void Execute(int index)
        {
            int s = index * Chunk, e = Math.Min(N, s + Chunk);
            for (int i = s; i < e; i++) Y[i] = Keep(Seed, i, Thr) ? X[i] * Scale : 0f;
        }
    }
}
