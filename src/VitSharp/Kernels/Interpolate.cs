namespace VitSharp.Kernels;

/// <summary>
/// Separable resampling of NCHW planes with torch.nn.functional.interpolate semantics:
/// bilinear (half-pixel with negative source clamped to 0, or align-corners), bicubic (Keys A = −0.75,
/// indices clamped at the border), and the antialiased variants (Pillow-style filters — triangle, or cubic with
/// a = −0.5 — whose support widens by the scale factor when downsampling, weights renormalised per output).
/// </summary>
public static class Interpolate
{
    /// <summary>Per-output taps along one axis: idx/w are (outSize × Taps) row-major.</summary>
    public sealed record AxisWeights(int Taps, int[] Index, float[] Weight);

    public static AxisWeights Weights(int inSize, int outSize, bool cubic, bool alignCorners, bool antialias)
    {
        if (inSize <= 0 || outSize <= 0) throw new ArgumentException($"interpolate: sizes {inSize} → {outSize} must be positive");
        // torch: area_pixel_compute_scale in float
        float scale = alignCorners ? (outSize > 1 ? (float)(inSize - 1) / (outSize - 1) : 0f) : (float)inSize / outSize;
        if (antialias) return AntialiasWeights(inSize, outSize, cubic, scale);
        int taps = cubic ? 4 : 2;
        var idx = new int[outSize * taps];
        var w = new float[outSize * taps];
        for (int i = 0; i < outSize; i++)
        {
            float src = alignCorners ? scale * i : scale * (i + 0.5f) - 0.5f;
            if (!cubic)
            {
                if (!alignCorners && src < 0) src = 0;
                int i0 = Math.Min((int)src, inSize - 1);
                float l1 = Math.Clamp(src - i0, 0f, 1f);
                idx[i * 2] = i0;
                idx[i * 2 + 1] = i0 + (i0 < inSize - 1 ? 1 : 0);
                w[i * 2] = 1f - l1;
                w[i * 2 + 1] = l1;
            }
            else
            {
                int i0 = (int)MathF.Floor(src);
                float t = src - i0;
                const float A = -0.75f;
                w[i * 4] = Cubic2(t + 1, A);
                w[i * 4 + 1] = Cubic1(t, A);
                w[i * 4 + 2] = Cubic1(1 - t, A);
                w[i * 4 + 3] = Cubic2(2 - t, A);
                for (int k = 0; k < 4; k++) idx[i * 4 + k] = Math.Clamp(i0 - 1 + k, 0, inSize - 1);
            }
        }
        return new AxisWeights(taps, idx, w);
    }

    private static float Cubic1(float x, float a) => ((a + 2) * x - (a + 3)) * x * x + 1;
    private static float Cubic2(float x, float a) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;

    private static double AaFilter(double x, bool cubic)
    {
        x = Math.Abs(x);
        if (!cubic) return x < 1 ? 1 - x : 0;
        const double a = -0.5;
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }

    private static AxisWeights AntialiasWeights(int inSize, int outSize, bool cubic, float scale)
    {
        double interp = cubic ? 4 : 2;
        double support = scale >= 1 ? interp * 0.5 * scale : interp * 0.5;
        double invScale = scale >= 1 ? 1.0 / scale : 1.0;
        int taps = (int)Math.Ceiling(support) * 2 + 1;
        var idx = new int[outSize * taps];
        var w = new float[outSize * taps];
        var tmp = new double[taps];
        for (int i = 0; i < outSize; i++)
        {
            double center = scale * (i + 0.5);
            int xmin = Math.Max((int)(center - support + 0.5), 0);
            int xsize = Math.Min((int)(center + support + 0.5), inSize) - xmin;
            xsize = Math.Clamp(xsize, 0, taps);
            double total = 0;
            for (int j = 0; j < xsize; j++)
            {
                tmp[j] = AaFilter((j + xmin - center + 0.5) * invScale, cubic);
                total += tmp[j];
            }
            for (int j = 0; j < taps; j++)
            {
                idx[i * taps + j] = j < xsize ? xmin + j : Math.Min(xmin, inSize - 1);
                w[i * taps + j] = j < xsize && total != 0 ? (float)(tmp[j] / total) : 0f;
            }
        }
        return new AxisWeights(taps, idx, w);
    }

    /// <summary>Resizes <paramref name="planes"/> planes of h×w into oh×ow.</summary>
    public static void Resize(ReadOnlySpan<float> x, int planes, int h, int w, int oh, int ow, bool cubic, bool alignCorners, bool antialias, Span<float> y)
    {
        var wx = Weights(w, ow, cubic, alignCorners, antialias);
        var wy = Weights(h, oh, cubic, alignCorners, antialias);
        var tmp = new float[h * ow];
        for (int p = 0; p < planes; p++)
        {
            var src = x.Slice(p * h * w, h * w);
            var dst = y.Slice(p * oh * ow, oh * ow);
            for (int r = 0; r < h; r++)
            {
                var row = src.Slice(r * w, w);
                for (int o = 0; o < ow; o++)
                {
                    float s = 0;
                    for (int t = 0; t < wx.Taps; t++) s += wx.Weight[o * wx.Taps + t] * row[wx.Index[o * wx.Taps + t]];
                    tmp[r * ow + o] = s;
                }
            }
            dst.Clear();
            for (int o = 0; o < oh; o++)
            {
                var drow = dst.Slice(o * ow, ow);
                for (int t = 0; t < wy.Taps; t++)
                {
                    float wt = wy.Weight[o * wy.Taps + t];
                    if (wt == 0) continue;
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(tmp.AsSpan(wy.Index[o * wy.Taps + t] * ow, ow), wt, drow, drow);
                }
            }
        }
    }

    /// <summary>The adjoint of <see cref="Resize"/>: dx (overwritten) from dy.</summary>
    public static void ResizeBackward(ReadOnlySpan<float> dy, int planes, int h, int w, int oh, int ow, bool cubic, bool alignCorners, bool antialias, Span<float> dx)
    {
        var wx = Weights(w, ow, cubic, alignCorners, antialias);
        var wy = Weights(h, oh, cubic, alignCorners, antialias);
        var tmp = new float[h * ow];
        for (int p = 0; p < planes; p++)
        {
            var g = dy.Slice(p * oh * ow, oh * ow);
            var d = dx.Slice(p * h * w, h * w);
            Array.Clear(tmp);
            for (int o = 0; o < oh; o++)
            {
                for (int t = 0; t < wy.Taps; t++)
                {
                    float wt = wy.Weight[o * wy.Taps + t];
                    if (wt == 0) continue;
                    var trow = tmp.AsSpan(wy.Index[o * wy.Taps + t] * ow, ow);
                    System.Numerics.Tensors.TensorPrimitives.MultiplyAdd(g.Slice(o * ow, ow), wt, trow, trow);
                }
            }
            d.Clear();
            for (int r = 0; r < h; r++)
            {
                var drow = d.Slice(r * w, w);
                for (int o = 0; o < ow; o++)
                {
                    float gv = tmp[r * ow + o];
                    for (int t = 0; t < wx.Taps; t++) drow[wx.Index[o * wx.Taps + t]] += wx.Weight[o * wx.Taps + t] * gv;
                }
            }
        }
    }
}
