using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>Strided N-d copies (contiguous(), cat, index_select, narrow-backward).</summary>
internal static unsafe class Copy
{
    /// <summary>dst = src over <paramref name="shape"/> with per-operand strides (src strides may be 0).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Strided(ReadOnlySpan<int> shape, float* src, ReadOnlySpan<int> ss, float* dst, ReadOnlySpan<int> ds)
    {
        foreach (var d in shape) if (d == 0) return;
        int rank = shape.Length;
        Span<int> dims = stackalloc int[rank + 1];
        Span<int> xs = stackalloc int[rank + 1];
        Span<int> xd = stackalloc int[rank + 1];
        Span<int> dummy = stackalloc int[rank + 1];
        int r = Elementwise.Coalesce(shape, ss, ds, ds, dims, xs, xd, dummy);
        if (r == 0) { *dst = *src; return; }

        // A transposed 2-D slab (dst rows unit-stride, src columns unit-stride): copy in tiles so both sides
        // stay in cache instead of striding through src once per element.
        bool transpose = r >= 2 && xd[r - 1] == 1 && xs[r - 2] == 1 && xs[r - 1] != 1 && dims[r - 1] >= 8 && dims[r - 2] >= 8;
        int outerRank = transpose ? r - 2 : r - 1;
        int n = dims[r - 1], is_ = xs[r - 1], id = xd[r - 1];
        int rows = transpose ? dims[r - 2] : 0, dstRowStride = transpose ? xd[r - 2] : 0;
        Span<int> idx = stackalloc int[Math.Max(outerRank, 1)];
        idx.Clear();
        long outer = 1;
        for (int k = 0; k < outerRank; k++) outer *= dims[k];
        long os = 0, od = 0;
        for (long o = 0; o < outer; o++)
        {
            if (transpose) Transpose(src + os, is_, dst + od, dstRowStride, rows, n);
            else Inner(src + os, is_, dst + od, id, n);
            for (int k = outerRank - 1; k >= 0; k--)
            {
                os += xs[k]; od += xd[k];
                if (++idx[k] < dims[k]) break;
                os -= (long)xs[k] * dims[k]; od -= (long)xd[k] * dims[k];
                idx[k] = 0;
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Inner(float* src, int ss, float* dst, int ds, int n)
    {
        if (ss == 1 && ds == 1) { Buffer.MemoryCopy(src, dst, (long)n * 4, (long)n * 4); return; }
        if (ss == 0 && ds == 1) { new Span<float>(dst, n).Fill(*src); return; }
        for (int i = 0; i < n; i++) dst[(long)i * ds] = src[(long)i * ss];
    }

    /// <summary>dst[i·dstRowStride + j] = src[i + j·srcColStride] in 32×32 tiles.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Transpose(float* src, int srcColStride, float* dst, int dstRowStride, int rows, int cols)
    {
        const int T = 32;
        for (int i0 = 0; i0 < rows; i0 += T)
        {
            int i1 = Math.Min(rows, i0 + T);
            for (int j0 = 0; j0 < cols; j0 += T)
            {
                int j1 = Math.Min(cols, j0 + T);
                for (int i = i0; i < i1; i++)
                {
                    float* d = dst + (long)i * dstRowStride;
                    float* s = src + i + (long)j0 * srcColStride;
                    for (int j = j0; j < j1; j++, s += srcColStride) d[j] = *s;
                }
            }
        }
    }
}
