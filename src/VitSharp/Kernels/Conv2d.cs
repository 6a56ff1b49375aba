using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>Geometry of a 2-D convolution or pooling window over one (C, H, W) image.</summary>
public readonly record struct ConvGeometry(int C, int H, int W, int KH, int KW, int Stride, int PadTop, int PadLeft, int OH, int OW)
{
    public int Rows => C * KH * KW;
    public int Cols => OH * OW;
}

/// <summary>
/// im2col / col2im for convolution through GEMM, and the patch gather/scatter used when kernel = stride with
/// no padding (patch embedding), where the column matrix is just a re-ordering of the input.
/// </summary>
public static class Conv2dKernels
{
    /// <summary>col[(c, ky, kx), (oy, ox)] = x[c, oy·s + ky − top, ox·s + kx − left], zero outside the image.</summary>
    public static void Im2Col(ReadOnlySpan<float> x, in ConvGeometry g, Span<float> col)
    {
        int cols = g.Cols, row = 0;
        for (int c = 0; c < g.C; c++)
        {
            var plane = x.Slice(c * g.H * g.W, g.H * g.W);
            for (int ky = 0; ky < g.KH; ky++)
            {
                for (int kx = 0; kx < g.KW; kx++, row++)
                {
                    var dst = col.Slice(row * cols, cols);
                    for (int oy = 0; oy < g.OH; oy++)
                    {
                        int iy = oy * g.Stride + ky - g.PadTop;
                        var d = dst.Slice(oy * g.OW, g.OW);
                        if ((uint)iy >= (uint)g.H) { d.Clear(); continue; }
                        var src = plane.Slice(iy * g.W, g.W);
                        int ix0 = kx - g.PadLeft;
                        if (g.Stride == 1 && ix0 >= 0 && ix0 + g.OW <= g.W) { src.Slice(ix0, g.OW).CopyTo(d); continue; }
                        for (int ox = 0, ix = ix0; ox < g.OW; ox++, ix += g.Stride)
                            d[ox] = (uint)ix < (uint)g.W ? src[ix] : 0f;
                    }
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Im2Col"/>: dx[c, iy, ix] += dcol[...] (dx must be zeroed by the caller).</summary>
    public static void Col2Im(ReadOnlySpan<float> dcol, in ConvGeometry g, Span<float> dx)
    {
        int cols = g.Cols, row = 0;
        for (int c = 0; c < g.C; c++)
        {
            var plane = dx.Slice(c * g.H * g.W, g.H * g.W);
            for (int ky = 0; ky < g.KH; ky++)
            {
                for (int kx = 0; kx < g.KW; kx++, row++)
                {
                    var src = dcol.Slice(row * cols, cols);
                    for (int oy = 0; oy < g.OH; oy++)
                    {
                        int iy = oy * g.Stride + ky - g.PadTop;
                        if ((uint)iy >= (uint)g.H) continue;
                        var dst = plane.Slice(iy * g.W, g.W);
                        var s = src.Slice(oy * g.OW, g.OW);
                        for (int ox = 0, ix = kx - g.PadLeft; ox < g.OW; ox++, ix += g.Stride)
                            if ((uint)ix < (uint)g.W) dst[ix] += s[ox];
                    }
                }
            }
        }
    }

    /// <summary>
    /// Patch rows for kernel = stride, no padding: a[(n, py, px), (c, ky, kx)] = x[n, c, py·k + ky, px·k + kx].
    /// With <paramref name="scatter"/> the data moves the other way (x is written; pixels outside the patch grid
    /// are left untouched, so the caller zeroes x first).
    /// </summary>
    public static unsafe void Patches(Span<float> x, int n, in ConvGeometry g, Span<float> a, bool scatter)
    {
        int k = g.KH, kw = g.KW, rowLen = g.C * k * kw;
        long imgLen = (long)g.C * g.H * g.W;
        // The loops below index with raw pointers (thousands of kw-float lines per image): check the extents once.
        long lastLine = ((long)(g.C - 1) * g.H + (long)(g.OH - 1) * g.Stride + k - 1) * g.W + (long)(g.OW - 1) * g.Stride + kw;
        if (n > 0 && (x.Length < (n - 1) * imgLen + lastLine || a.Length < (long)n * g.OH * g.OW * rowLen))
            throw new ArgumentException($"patches: spans too short for {n} images of {g.C}×{g.H}×{g.W} in {g.OH}×{g.OW} patches of {k}×{kw}");
        fixed (float* px0 = x, pa0 = a)
        {
            // A memory-bound copy: several images (a training batch) go over the workers, one image per job.
            Workers.For(n, new PatchJob { X = px0, A = pa0, ImgLen = imgLen, RowsLen = (long)g.OH * g.OW * rowLen, G = g, Scatter = scatter });
        }
    }

    private unsafe struct PatchJob : IParallelJob
    {
        public float* X, A;
        public long ImgLen, RowsLen;
        public ConvGeometry G;
        public bool Scatter;

        public readonly void Execute(int index) => PatchesOf(X + index * ImgLen, A + index * RowsLen, G, Scatter);
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void PatchesOf(float* img, float* rows, in ConvGeometry g, bool scatter)
    {
        int k = g.KH, kw = g.KW, rowLen = g.C * k * kw;
        bool v16 = kw == 16 && Vector512.IsHardwareAccelerated;
        for (int py = 0; py < g.OH; py++)
        {
            for (int px = 0; px < g.OW; px++)
            {
                float* row = rows + ((long)py * g.OW + px) * rowLen;
                for (int c = 0; c < g.C; c++)
                {
                    float* line = img + ((long)c * g.H + py * g.Stride) * g.W + px * g.Stride;
                    for (int ky = 0; ky < k; ky++, row += kw, line += g.W)
                    {
                        float* src = scatter ? row : line, dst = scatter ? line : row;
                        if (v16) Vector512.Store(Vector512.Load(src), dst);
                        else Buffer.MemoryCopy(src, dst, kw * sizeof(float), kw * sizeof(float));
                    }
                }
            }
        }
    }
}
