using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>
/// Reductions over dense data viewed as [outer, d, inner]. Sums are accurate to about float rounding of the
/// result: vector partial sums run over short blocks and blocks are added in double (over the last dim), or
/// columns accumulate in double (over a middle/outer dim), so long reductions do not drift.
/// </summary>
internal static unsafe class Reduce
{
    private const int Block = 1024;

    /// <summary>Sum of n dense floats (float vector partials per block, blocks added in double).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static double Sum(float* p, long n)
    {
        double total = 0;
        long i = 0;
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512)
        {
            while (n - i >= 64)
            {
                long end = Math.Min(n, i + Block);
                var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                for (; i <= end - 64; i += 64)
                {
                    a0 += Vector512.Load(p + i);
                    a1 += Vector512.Load(p + i + 16);
                    a2 += Vector512.Load(p + i + 32);
                    a3 += Vector512.Load(p + i + 48);
                }
                total += Vector512.Sum((a0 + a1) + (a2 + a3));
            }
        }
        else if (level == SimdLevel.Vector256)
        {
            while (n - i >= 32)
            {
                long end = Math.Min(n, i + Block);
                var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
                for (; i <= end - 32; i += 32)
                {
                    a0 += Vector256.Load(p + i);
                    a1 += Vector256.Load(p + i + 8);
                    a2 += Vector256.Load(p + i + 16);
                    a3 += Vector256.Load(p + i + 24);
                }
                total += Vector256.Sum((a0 + a1) + (a2 + a3));
            }
        }
        for (; i < n; i++) total += p[i];
        return total;
    }

    /// <summary>y[r] = scale · Σ_j x[r·d + j] for r in [0, rows).</summary>
    public static void SumLast(float* x, int rows, int d, float* y, float scale)
    {
        for (int r = 0; r < rows; r++) y[r] = (float)(Sum(x + (long)r * d, d) * scale);
    }

    /// <summary>y[o·inner + j] = scale · Σ_k x[(o·d + k)·inner + j] (reduction over a middle or leading dim).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    public static void SumMiddle(float* x, int outer, int d, int inner, float* y, float scale)
    {
        const int Chunk = 256;
        double* acc = stackalloc double[Chunk];
        var level = Cpu.Level;
        for (int o = 0; o < outer; o++)
        {
            float* xo = x + (long)o * d * inner;
            float* yo = y + (long)o * inner;
            for (int j0 = 0; j0 < inner; j0 += Chunk)
            {
                int w = Math.Min(Chunk, inner - j0);
                new Span<double>(acc, w).Clear();
                for (int k = 0; k < d; k++)
                {
                    float* row = xo + (long)k * inner + j0;
                    int j = 0;
                    if (level == SimdLevel.Vector512)
                    {
                        for (; j <= w - 16; j += 16)
                        {
                            var v = Vector512.Load(row + j);
                            (Vector512.Load(acc + j) + Vector512.WidenLower(v)).Store(acc + j);
                            (Vector512.Load(acc + j + 8) + Vector512.WidenUpper(v)).Store(acc + j + 8);
                        }
                    }
                    if (level >= SimdLevel.Vector256)
                    {
                        for (; j <= w - 8; j += 8)
                        {
                            var v = Vector256.Load(row + j);
                            (Vector256.Load(acc + j) + Vector256.WidenLower(v)).Store(acc + j);
                            (Vector256.Load(acc + j + 4) + Vector256.WidenUpper(v)).Store(acc + j + 4);
                        }
                    }
                    for (; j < w; j++) acc[j] += row[j];
                }
                for (int j = 0; j < w; j++) yo[j0 + j] = (float)(acc[j] * scale);
            }
        }
    }

    /// <summary>Max over the middle dim of [outer, d, inner] with the index of the first maximum (NaN wins, as torch).</summary>
    public static void MaxMiddle(float* x, int outer, int d, int inner, float* y, int* index)
    {
        for (int o = 0; o < outer; o++)
        {
            float* xo = x + (long)o * d * inner;
            float* yo = y + (long)o * inner;
            int* io = index + (long)o * inner;
            for (int j = 0; j < inner; j++) { yo[j] = xo[j]; io[j] = 0; }
            for (int k = 1; k < d; k++)
            {
                float* row = xo + (long)k * inner;
                for (int j = 0; j < inner; j++)
                {
                    float v = row[j];
                    // Strict > keeps the first maximum; a NaN replaces any non-NaN best and then sticks.
                    if (v > yo[j] || (float.IsNaN(v) && !float.IsNaN(yo[j]))) { yo[j] = v; io[j] = k; }
                }
            }
        }
    }
}
