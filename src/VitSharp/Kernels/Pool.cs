namespace VitSharp.Kernels;

/// <summary>Max pooling over NCHW planes; cells in the padding count as −inf (never selected unless a window is all padding).</summary>
public static class Pool
{
    /// <summary>y and the flat input index of each maximum (−1 when a window lies entirely in the padding).</summary>
    public static void MaxPool2d(ReadOnlySpan<float> x, int planes, in ConvGeometry g, Span<float> y, Span<int> argmax)
    {
        int hw = g.H * g.W, ohw = g.OH * g.OW;
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * hw, hw);
            for (int oy = 0; oy < g.OH; oy++)
            {
                for (int ox = 0; ox < g.OW; ox++)
                {
                    float m = float.NegativeInfinity;
                    int best = -1;
                    for (int ky = 0; ky < g.KH; ky++)
                    {
                        int iy = oy * g.Stride + ky - g.PadTop;
                        if ((uint)iy >= (uint)g.H) continue;
                        for (int kx = 0; kx < g.KW; kx++)
                        {
                            int ix = ox * g.Stride + kx - g.PadLeft;
                            if ((uint)ix >= (uint)g.W) continue;
                            float v = src[iy * g.W + ix];
                            // NaN propagates like torch; the first maximum wins ties.
                            if (best < 0 || v > m || float.IsNaN(v)) { m = v; best = iy * g.W + ix; }
                        }
                    }
                    int o = p * ohw + oy * g.OW + ox;
                    y[o] = m;
                    argmax[o] = best < 0 ? -1 : p * hw + best;
                }
            }
        }
    }

    /// <summary>dx[argmax[o]] += dy[o] (dx zeroed by the caller).</summary>
    public static void MaxPool2dBackward(ReadOnlySpan<float> dy, ReadOnlySpan<int> argmax, Span<float> dx)
    {
        for (int o = 0; o < dy.Length; o++)
            if (argmax[o] >= 0) dx[argmax[o]] += dy[o];
    }
}
