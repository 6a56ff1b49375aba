using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>How a position-embedding grid is resampled (vit-reference.md (c)).</summary>
public enum PosEmbedResampleMode
{
    /// <summary>timm's .npz loader: F.interpolate bilinear, align_corners=False (half-pixel, negative source clamped to 0), no antialias.</summary>
    TimmNpzBilinear,
    /// <summary>Google vit_jax: scipy.ndimage.zoom order 1 = bilinear with corner pixel centres aligned (align_corners=True).</summary>
    GoogleBilinearAlignCorners,
    /// <summary>timm state-dict loading: F.interpolate bicubic, antialias=True (Pillow-style cubic a = -0.5, support widened when downsampling, weights renormalised).</summary>
    TimmBicubicAntialias,
    /// <summary>Hugging Face interpolate_pos_encoding: bicubic (A = -0.75), align_corners=False, no antialias, edge indices clamped.</summary>
    BicubicHalfPixel,
    /// <summary>torchvision interpolate_embeddings: bicubic (A = -0.75), align_corners=True.</summary>
    BicubicAlignCorners,
}

/// <summary>
/// Position-embedding resampling: the prefix (class/distillation) rows are kept, the patch grid (row-major) is
/// resized separably (rows then columns) with exactly the 1-D kernels PyTorch's F.interpolate uses for each mode,
/// computed in double. Matches F.interpolate to float rounding (tested against PyTorch 1.13 outputs).
/// </summary>
public static class PosEmbed
{
    public static Tensor Resample(Tensor posEmbed, int prefixTokens, (int H, int W) oldGrid, (int H, int W) newGrid,
        PosEmbedResampleMode mode = PosEmbedResampleMode.TimmNpzBilinear)
    {
        if (posEmbed.Rank != 3 || posEmbed.Shape[0] != 1)
            throw new ShapeException($"PosEmbed.Resample: expected (1, tokens, dim), got {posEmbed.ShapeString}");
        int d = posEmbed.Shape[2];
        if (posEmbed.Shape[1] != prefixTokens + oldGrid.H * oldGrid.W)
            throw new ShapeException($"PosEmbed.Resample: {posEmbed.Shape[1]} tokens do not match {prefixTokens} prefix + {oldGrid.H}x{oldGrid.W} grid");
        if (newGrid.H <= 0 || newGrid.W <= 0 || oldGrid.H <= 0 || oldGrid.W <= 0)
            throw new ShapeException($"PosEmbed.Resample: invalid grid {oldGrid.H}x{oldGrid.W} -> {newGrid.H}x{newGrid.W}");
        var src = posEmbed.Contiguous().ToArray();
        var result = Tensor.Empty(1, prefixTokens + newGrid.H * newGrid.W, d);
        var dst = result.AsSpan();
        src.AsSpan(0, prefixTokens * d).CopyTo(dst);

        var wh = Weights(oldGrid.H, newGrid.H, mode);
        var ww = Weights(oldGrid.W, newGrid.W, mode);
        int gw = oldGrid.W, nh = newGrid.H, nw = newGrid.W;
        // Rows first: tmp[y, x, c] = Σ_i wh[y, i] · grid[i, x, c]
        var tmp = new double[nh * gw * d];
        for (int y = 0; y < nh; y++)
            foreach (var (i, w) in wh[y])
            {
                int so = (prefixTokens + i * gw) * d, to = y * gw * d;
                for (int j = 0; j < gw * d; j++) tmp[to + j] += w * src[so + j];
            }
        for (int y = 0; y < nh; y++)
            for (int x = 0; x < nw; x++)
            {
                int o = (prefixTokens + y * nw + x) * d;
                for (int c = 0; c < d; c++)
                {
                    double acc = 0;
                    foreach (var (i, w) in ww[x]) acc += w * tmp[(y * gw + i) * d + c];
                    dst[o + c] = (float)acc;
                }
            }
        return result;
    }

    /// <summary>For each output index, the (input index, weight) pairs of the 1-D kernel.</summary>
    internal static List<(int Index, double Weight)>[] Weights(int inSize, int outSize, PosEmbedResampleMode mode)
    {
        var r = new List<(int, double)>[outSize];
        for (int o = 0; o < outSize; o++)
        {
            var list = new List<(int, double)>();
            switch (mode)
            {
                case PosEmbedResampleMode.TimmNpzBilinear:
                case PosEmbedResampleMode.GoogleBilinearAlignCorners:
                    {
                        bool ac = mode == PosEmbedResampleMode.GoogleBilinearAlignCorners;
                        double src = SourceIndex(inSize, outSize, o, ac, cubic: false);
                        int i0 = Math.Min((int)src, inSize - 1);
                        int i1 = Math.Min(i0 + 1, inSize - 1);
                        double l1 = src - i0, l0 = 1 - l1;
                        list.Add((i0, l0));
                        list.Add((i1, l1));
                        break;
                    }
                case PosEmbedResampleMode.BicubicHalfPixel:
                case PosEmbedResampleMode.BicubicAlignCorners:
                    {
                        const double A = -0.75;
                        bool ac = mode == PosEmbedResampleMode.BicubicAlignCorners;
                        double src = SourceIndex(inSize, outSize, o, ac, cubic: true);
                        int i = (int)Math.Floor(src);
                        double t = src - i;
                        double[] c = [Cubic2(t + 1, A), Cubic1(t, A), Cubic1(1 - t, A), Cubic2(2 - t, A)];
                        for (int k = 0; k < 4; k++) list.Add((Math.Clamp(i - 1 + k, 0, inSize - 1), c[k]));
                        break;
                    }
                case PosEmbedResampleMode.TimmBicubicAntialias:
                    {
                        // aten UpSampleKernel _compute_weights_aa: support 2 (bicubic), widened by the scale when downsampling.
                        double scale = (double)inSize / outSize;
                        double support = scale >= 1 ? 2.0 * scale : 2.0;
                        double invscale = scale >= 1 ? 1.0 / scale : 1.0;
                        double center = scale * (o + 0.5);
                        int xmin = Math.Max((int)(center - support + 0.5), 0);
                        int xsize = Math.Min((int)(center + support + 0.5), inSize) - xmin;
                        double total = 0;
                        var ws = new double[Math.Max(xsize, 0)];
                        for (int j = 0; j < xsize; j++)
                        {
                            ws[j] = AaCubic((j + xmin - center + 0.5) * invscale);
                            total += ws[j];
                        }
                        for (int j = 0; j < xsize; j++) list.Add((xmin + j, total != 0 ? ws[j] / total : 0));
                        break;
                    }
                default:
                    throw new ArgumentOutOfRangeException(nameof(mode));
            }
            r[o] = list;
        }
        return r;
    }

    /// <summary>aten area_pixel_compute_source_index with the scale aten derives from the sizes.</summary>
    private static double SourceIndex(int inSize, int outSize, int o, bool alignCorners, bool cubic)
    {
        if (alignCorners) return outSize > 1 ? o * (double)(inSize - 1) / (outSize - 1) : 0;
        double scale = (double)inSize / outSize;
        double src = scale * (o + 0.5) - 0.5;
        return !cubic && src < 0 ? 0 : src;
    }

    private static double Cubic1(double x, double a) => ((a + 2) * x - (a + 3)) * x * x + 1;
    private static double Cubic2(double x, double a) => ((a * x - 5 * a) * x + 8 * a) * x - 4 * a;

    private static double AaCubic(double x)
    {
        const double a = -0.5;
        x = Math.Abs(x);
        if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
        if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
        return 0;
    }
}
