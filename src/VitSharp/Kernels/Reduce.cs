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
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
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
    /// <remarks>
    /// Column tiles accumulate in float registers over blocks of <see cref="RowBlock"/> rows, then each block's
    /// partial sums are added in double: one load and one add per element, and no drift over long reductions.
    /// </remarks>
    public static void SumMiddle(float* x, int outer, int d, int inner, float* y, float scale)
    {
        for (int o = 0; o < outer; o++) SumColumns(x + (long)o * d * inner, d, inner, inner, y + (long)o * inner, scale);
    }

    /// <summary>y[j] = scale · Σ_r x[r·ld + j] for j in [0, cols): column sums of a rows × cols matrix with row
    /// stride ld (≥ cols), summed as in <see cref="SumMiddle"/>.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void SumColumns(float* x, int rows, int cols, int ld, float* y, float scale)
    {
        var level = Cpu.Level;
        int j = 0;
        if (level == SimdLevel.Vector512)
            for (; j <= cols - 64; j += 64) Columns512(x + j, rows, ld, y + j, scale);
        if (level >= SimdLevel.Vector256)
            for (; j <= cols - 32; j += 32) Columns256(x + j, rows, ld, y + j, scale);
        for (; j < cols; j++)
        {
            double acc = 0;
            for (int k = 0; k < rows; k++) acc += x[(long)k * ld + j];
            y[j] = (float)(acc * scale);
        }
    }

    private const int RowBlock = 64;

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Columns512(float* x, int d, int stride, float* y, float scale)
    {
        double* acc = stackalloc double[64];
        new Span<double>(acc, 64).Clear();
        for (int k0 = 0; k0 < d; k0 += RowBlock)
        {
            int k1 = Math.Min(d, k0 + RowBlock);
            var a0 = Vector512<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            float* row = x + (long)k0 * stride;
            for (int k = k0; k < k1; k++, row += stride)
            {
                a0 += Vector512.Load(row);
                a1 += Vector512.Load(row + 16);
                a2 += Vector512.Load(row + 32);
                a3 += Vector512.Load(row + 48);
            }
            Flush512(acc, a0); Flush512(acc + 16, a1); Flush512(acc + 32, a2); Flush512(acc + 48, a3);
        }
        for (int j = 0; j < 64; j++) y[j] = (float)(acc[j] * scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush512(double* acc, Vector512<float> v)
    {
        (Vector512.Load(acc) + Vector512.WidenLower(v)).Store(acc);
        (Vector512.Load(acc + 8) + Vector512.WidenUpper(v)).Store(acc + 8);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Columns256(float* x, int d, int stride, float* y, float scale)
    {
        double* acc = stackalloc double[32];
        new Span<double>(acc, 32).Clear();
        for (int k0 = 0; k0 < d; k0 += RowBlock)
        {
            int k1 = Math.Min(d, k0 + RowBlock);
            var a0 = Vector256<float>.Zero; var a1 = a0; var a2 = a0; var a3 = a0;
            float* row = x + (long)k0 * stride;
            for (int k = k0; k < k1; k++, row += stride)
            {
                a0 += Vector256.Load(row);
                a1 += Vector256.Load(row + 8);
                a2 += Vector256.Load(row + 16);
                a3 += Vector256.Load(row + 24);
            }
            Flush256(acc, a0); Flush256(acc + 8, a1); Flush256(acc + 16, a2); Flush256(acc + 24, a3);
        }
        for (int j = 0; j < 32; j++) y[j] = (float)(acc[j] * scale);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Flush256(double* acc, Vector256<float> v)
    {
        (Vector256.Load(acc) + Vector256.WidenLower(v)).Store(acc);
        (Vector256.Load(acc + 4) + Vector256.WidenUpper(v)).Store(acc + 4);
    }

    /// <summary>Max over the middle dim of [outer, d, inner] with the index of the first maximum (NaN wins, as torch).</summary>
    public static void MaxMiddle(float* x, int outer, int d, int inner, float* y, int* index)
    {
        if (inner == 1)
        {
            for (int o = 0; o < outer; o++) y[o] = MaxLast(x + (long)o * d, d, out index[o]);
            return;
        }
        var level = Cpu.Level;
        for (int o = 0; o < outer; o++)
        {
            float* xo = x + (long)o * d * inner;
            float* yo = y + (long)o * inner;
            int* io = index + (long)o * inner;
            int j0 = 0;
            // Vector columns: per lane running max and the row where it first appeared; a tile that meets a NaN
            // is redone by the scalar loop below (NaN semantics).
            if (level == SimdLevel.Vector512)
                for (; j0 <= inner - 16 && Columns512Max(xo + j0, d, inner, yo + j0, io + j0); j0 += 16) { }
            else if (level == SimdLevel.Vector256)
                for (; j0 <= inner - 8 && Columns256Max(xo + j0, d, inner, yo + j0, io + j0); j0 += 8) { }
            for (int j = j0; j < inner; j++) { yo[j] = xo[j]; io[j] = 0; }
            for (int k = 1; k < d; k++)
            {
                float* row = xo + (long)k * inner;
                for (int j = j0; j < inner; j++)
                {
                    float v = row[j];
                    // Strict > keeps the first maximum; a NaN replaces any non-NaN best and then sticks.
                    if (v > yo[j] || (float.IsNaN(v) && !float.IsNaN(yo[j]))) { yo[j] = v; io[j] = k; }
                }
            }
        }
    }

    /// <summary>Max over d rows of one 16-column tile; false (nothing written) when the tile holds a NaN.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Columns512Max(float* x, int d, int stride, float* y, int* index)
    {
        var m = Vector512.Load(x);
        var at = Vector512<int>.Zero;
        bool nan = !Vector512.EqualsAll(m, m);
        float* row = x + stride;
        for (int k = 1; k < d; k++, row += stride)
        {
            var v = Vector512.Load(row);
            nan |= !Vector512.EqualsAll(v, v);
            var gt = Vector512.GreaterThan(v, m);
            m = Vector512.ConditionalSelect(gt, v, m);
            at = Vector512.ConditionalSelect(gt.AsInt32(), Vector512.Create(k), at);
        }
        if (nan) return false;
        m.Store(y);
        at.Store(index);
        return true;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static bool Columns256Max(float* x, int d, int stride, float* y, int* index)
    {
        var m = Vector256.Load(x);
        var at = Vector256<int>.Zero;
        bool nan = !Vector256.EqualsAll(m, m);
        float* row = x + stride;
        for (int k = 1; k < d; k++, row += stride)
        {
            var v = Vector256.Load(row);
            nan |= !Vector256.EqualsAll(v, v);
            var gt = Vector256.GreaterThan(v, m);
            m = Vector256.ConditionalSelect(gt, v, m);
            at = Vector256.ConditionalSelect(gt.AsInt32(), Vector256.Create(k), at);
        }
        if (nan) return false;
        m.Store(y);
        at.Store(index);
        return true;
    }

    /// <summary>Max of n ≥ 1 dense floats and the index of its first occurrence (first NaN if any).</summary>
    /// <remarks>
    /// One pass: each lane keeps its own running max and the index where it first appeared (strict &gt;), then
    /// the lanes are combined taking the smallest index among those holding the overall max. Rows containing
    /// NaN are redone by the scalar loop so NaN semantics match torch.
    /// </remarks>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static float MaxLast(float* p, int n, out int index)
    {
        var level = Cpu.Level;
        if (level == SimdLevel.Vector512 && n >= 32)
        {
            var m = Vector512.Load(p);
            var lane = Vector512.Create(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
            var at = lane;
            var step = Vector512.Create(16);
            var cur = lane;
            bool nan = !Vector512.EqualsAll(m, m);
            int i = 16;
            for (; i <= n - 16; i += 16)
            {
                var v = Vector512.Load(p + i);
                cur += step;
                nan |= !Vector512.EqualsAll(v, v);
                var gt = Vector512.GreaterThan(v, m);
                m = Vector512.ConditionalSelect(gt, v, m);
                at = Vector512.ConditionalSelect(gt.AsInt32(), cur, at);
            }
            if (nan) return MaxScalar(p, n, out index);
            // Combine lanes through memory: GetElement with a variable index is slow for wide vectors.
            float* mv = stackalloc float[16];
            int* av = stackalloc int[16];
            m.Store(mv);
            at.Store(av);
            float best = mv[0];
            int bi = av[0];
            for (int l = 1; l < 16; l++)
            {
                float v = mv[l];
                int k = av[l];
                if (v > best || (v == best && k < bi)) { best = v; bi = k; }
            }
            return FinishTail(p, i, n, best, bi, out index);
        }
        if (level >= SimdLevel.Vector256 && n >= 16)
        {
            var m = Vector256.Load(p);
            var lane = Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7);
            var at = lane;
            var step = Vector256.Create(8);
            var cur = lane;
            bool nan = !Vector256.EqualsAll(m, m);
            int i = 8;
            for (; i <= n - 8; i += 8)
            {
                var v = Vector256.Load(p + i);
                cur += step;
                nan |= !Vector256.EqualsAll(v, v);
                var gt = Vector256.GreaterThan(v, m);
                m = Vector256.ConditionalSelect(gt, v, m);
                at = Vector256.ConditionalSelect(gt.AsInt32(), cur, at);
            }
            if (nan) return MaxScalar(p, n, out index);
            // Combine lanes through memory: GetElement with a variable index is slow for wide vectors.
            float* mv = stackalloc float[8];
            int* av = stackalloc int[8];
            m.Store(mv);
            at.Store(av);
            float best = mv[0];
            int bi = av[0];
            for (int l = 1; l < 8; l++)
            {
                float v = mv[l];
                int k = av[l];
                if (v > best || (v == best && k < bi)) { best = v; bi = k; }
            }
            return FinishTail(p, i, n, best, bi, out index);
        }
        return MaxScalar(p, n, out index);
    }

    private static float FinishTail(float* p, int i, int n, float best, int bi, out int index)
    {
        for (; i < n; i++)
        {
            float v = p[i];
            if (float.IsNaN(v)) return MaxScalar(p, n, out index);
            if (v > best) { best = v; bi = i; }
        }
        index = bi;
        return best;
    }

    private static float MaxScalar(float* p, int n, out int index)
    {
        float best = p[0];
        int bi = 0;
        for (int k = 1; k < n; k++)
        {
            float v = p[k];
            if (v > best || (float.IsNaN(v) && !float.IsNaN(best))) { best = v; bi = k; }
        }
        index = bi;
        return best;
    }
}
