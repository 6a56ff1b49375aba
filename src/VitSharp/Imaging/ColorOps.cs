namespace VitSharp.Imaging;

/// <summary>
/// Pixel-value operations with Pillow's exact integer/float arithmetic (ImageEnhance, ImageOps, alpha
/// premultiplication), so RandAugment's colour ops give the same pixels torchvision's PIL backend gives.
/// </summary>
public static class ColorOps
{
    /// <summary>Pillow's RGB→L luma: (R·19595 + G·38470 + B·7471 + 0x8000) >> 16.</summary>
    public static byte Luma(byte r, byte g, byte b) => (byte)((r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16);

    /// <summary>Gray version with the same channel count (L→L, RGB→gray RGB; alpha kept), like convert("L").convert(mode).</summary>
    public static Image Grayscale(Image src)
    {
        var dst = new Image(src.Width, src.Height, src.Channels);
        var s = src.Pixels;
        var d = dst.Pixels;
        int c = src.Channels;
        if (c <= 2) { s.CopyTo(d, 0); return dst; }
        for (int i = 0; i < s.Length; i += c)
        {
            byte l = Luma(s[i], s[i + 1], s[i + 2]);
            d[i] = d[i + 1] = d[i + 2] = l;
            if (c == 4) d[i + 3] = s[i + 3];
        }
        return dst;
    }

    /// <summary>
    /// Pillow's Image.blend(a, b, alpha) = a + alpha·(b − a) in single precision, truncated; clipped to 0..255
    /// when alpha extrapolates. Alpha channels are blended like colour (Pillow's enhancers put the source alpha
    /// into the degenerate image first, so it comes back unchanged).
    /// </summary>
    public static Image Blend(Image a, Image b, float alpha)
    {
        if (a.Width != b.Width || a.Height != b.Height || a.Channels != b.Channels)
            throw new ArgumentException($"blend: images {a.Width}x{a.Height}x{a.Channels} and {b.Width}x{b.Height}x{b.Channels} differ");
        var dst = new Image(a.Width, a.Height, a.Channels);
        var pa = a.Pixels;
        var pb = b.Pixels;
        var pd = dst.Pixels;
        bool inside = alpha >= 0 && alpha <= 1.0f;
        for (int i = 0; i < pd.Length; i++)
        {
            float t = pa[i] + alpha * (pb[i] - pa[i]);
            if (inside) pd[i] = (byte)t;
            else pd[i] = t <= 0f ? (byte)0 : t >= 255f ? (byte)255 : (byte)t;
        }
        return dst;
    }

    private static Image WithAlphaOf(Image degenerate, Image src)
    {
        if (src.Channels is 2 or 4)
        {
            int c = src.Channels;
            for (int i = c - 1; i < src.Pixels.Length; i += c) degenerate.Pixels[i] = src.Pixels[i];
        }
        return degenerate;
    }

    /// <summary>ImageEnhance.Brightness: blend with black.</summary>
    public static Image AdjustBrightness(Image src, float factor)
        => Blend(WithAlphaOf(new Image(src.Width, src.Height, src.Channels), src), src, factor);

    /// <summary>ImageEnhance.Color: blend with the gray version.</summary>
    public static Image AdjustSaturation(Image src, float factor) => Blend(Grayscale(src), src, factor);

    /// <summary>ImageEnhance.Contrast: blend with a flat image at the rounded mean luma.</summary>
    public static Image AdjustContrast(Image src, float factor)
    {
        long sum = 0;
        int c = src.Channels, n = src.Width * src.Height;
        var p = src.Pixels;
        for (int i = 0; i < p.Length; i += c) sum += c >= 3 ? Luma(p[i], p[i + 1], p[i + 2]) : p[i];
        int mean = (int)((double)sum / n + 0.5);
        var deg = new Image(src.Width, src.Height, c);
        var d = deg.Pixels;
        for (int i = 0; i < d.Length; i += c)
        {
            int colour = c >= 3 ? 3 : 1;
            for (int k = 0; k < colour; k++) d[i + k] = (byte)mean;
        }
        return Blend(WithAlphaOf(deg, src), src, factor);
    }

    /// <summary>ImageEnhance.Sharpness: blend with ImageFilter.SMOOTH (3×3, centre 5, others 1, /13).</summary>
    public static Image AdjustSharpness(Image src, float factor) => Blend(WithAlphaOf(Smooth(src), src), src, factor);

    /// <summary>Pillow's 3×3 SMOOTH filter: float kernel pre-divided by 13, borders copied, rounded and clipped.</summary>
    public static Image Smooth(Image src)
    {
        int w = src.Width, h = src.Height, c = src.Channels, stride = src.Stride;
        var dst = new Image(w, h, c, (byte[])src.Pixels.Clone());
        if (w < 3 || h < 3) return dst;
        float edge = 1f / 13f, centre = 5f / 13f;
        var s = src.Pixels;
        var d = dst.Pixels;
        for (int y = 1; y < h - 1; y++)
        {
            int r0 = (y - 1) * stride, r1 = y * stride, r2 = (y + 1) * stride;
            for (int x = 1; x < w - 1; x++)
            {
                for (int ch = 0; ch < c; ch++)
                {
                    int i = x * c + ch;
                    float ss = 0f;
                    ss += s[r2 + i - c] * edge + s[r2 + i] * edge + s[r2 + i + c] * edge;
                    ss += s[r1 + i - c] * edge + s[r1 + i] * centre + s[r1 + i + c] * edge;
                    ss += s[r0 + i - c] * edge + s[r0 + i] * edge + s[r0 + i + c] * edge;
                    d[r1 + i] = ss <= 0f ? (byte)0 : ss >= 255f ? (byte)255 : (byte)(ss + 0.5f);
                }
            }
        }
        return dst;
    }

    /// <summary>Applies a 256-entry table to the colour channels (alpha untouched).</summary>
    public static Image ApplyLut(Image src, ReadOnlySpan<byte> lut)
    {
        var dst = new Image(src.Width, src.Height, src.Channels, (byte[])src.Pixels.Clone());
        int c = src.Channels, colour = c is 2 or 4 ? c - 1 : c;
        var d = dst.Pixels;
        for (int i = 0; i < d.Length; i += c)
            for (int k = 0; k < colour; k++) d[i + k] = lut[d[i + k]];
        return dst;
    }

    /// <summary>ImageOps.posterize: keep the top <paramref name="bits"/> bits.</summary>
    public static Image Posterize(Image src, int bits)
    {
        if (bits is < 0 or > 8) throw new ArgumentOutOfRangeException(nameof(bits), $"posterize bits {bits} not in 0..8");
        int mask = ~((1 << (8 - bits)) - 1);
        Span<byte> lut = stackalloc byte[256];
        for (int i = 0; i < 256; i++) lut[i] = (byte)(i & mask);
        return ApplyLut(src, lut);
    }

    /// <summary>ImageOps.solarize: invert values at or above the threshold.</summary>
    public static Image Solarize(Image src, double threshold)
    {
        Span<byte> lut = stackalloc byte[256];
        for (int i = 0; i < 256; i++) lut[i] = i < threshold ? (byte)i : (byte)(255 - i);
        return ApplyLut(src, lut);
    }

    private static int[] Histogram(Image src, int channel)
    {
        var h = new int[256];
        var p = src.Pixels;
        for (int i = channel; i < p.Length; i += src.Channels) h[p[i]]++;
        return h;
    }

    /// <summary>Per-channel LUT ops (autocontrast/equalize) work band by band as Pillow does.</summary>
    private static Image PerChannel(Image src, Action<int[], byte[]> makeLut)
    {
        var dst = new Image(src.Width, src.Height, src.Channels, (byte[])src.Pixels.Clone());
        int c = src.Channels, colour = c is 2 or 4 ? c - 1 : c;
        var lut = new byte[256];
        for (int ch = 0; ch < colour; ch++)
        {
            makeLut(Histogram(src, ch), lut);
            var d = dst.Pixels;
            for (int i = ch; i < d.Length; i += c) d[i] = lut[d[i]];
        }
        return dst;
    }

    /// <summary>ImageOps.autocontrast (cutoff 0): stretch each band's [min, max] to [0, 255].</summary>
    public static Image AutoContrast(Image src) => PerChannel(src, (h, lut) =>
    {
        int lo = 0, hi = 255;
        while (lo < 256 && h[lo] == 0) lo++;
        while (hi >= 0 && h[hi] == 0) hi--;
        if (hi <= lo)
        {
            for (int i = 0; i < 256; i++) lut[i] = (byte)i;
            return;
        }
        double scale = 255.0 / (hi - lo), offset = -lo * scale;
        for (int i = 0; i < 256; i++)
        {
            int v = (int)(i * scale + offset);
            lut[i] = (byte)Math.Clamp(v, 0, 255);
        }
    });

    /// <summary>ImageOps.equalize: Pillow's cumulative-histogram table per band.</summary>
    public static Image Equalize(Image src) => PerChannel(src, (h, lut) =>
    {
        long total = 0, last = 0;
        int nonzero = 0;
        for (int i = 0; i < 256; i++)
            if (h[i] != 0) { total += h[i]; last = h[i]; nonzero++; }
        long step = nonzero <= 1 ? 0 : (total - last) / 255;
        if (step == 0)
        {
            for (int i = 0; i < 256; i++) lut[i] = (byte)i;
            return;
        }
        long n = step / 2;
        for (int i = 0; i < 256; i++)
        {
            lut[i] = (byte)Math.Min(n / step, 255);
            n += h[i];
        }
    });

    /// <summary>Pillow's RGBA→RGBa (and LA→La): colour × alpha / 255 with its rounding.</summary>
    public static Image Premultiply(Image src)
    {
        int c = src.Channels;
        if (c is not (2 or 4)) return src;
        var dst = new Image(src.Width, src.Height, c);
        var s = src.Pixels;
        var d = dst.Pixels;
        for (int i = 0; i < s.Length; i += c)
        {
            int a = s[i + c - 1];
            for (int k = 0; k < c - 1; k++)
            {
                int t = s[i + k] * a + 128;
                d[i + k] = (byte)(((t >> 8) + t) >> 8);
            }
            d[i + c - 1] = (byte)a;
        }
        return dst;
    }

    /// <summary>Pillow's RGBa→RGBA: colour · 255 / alpha, clipped; alpha 0 or 255 left as is.</summary>
    public static Image Unpremultiply(Image src)
    {
        int c = src.Channels;
        if (c is not (2 or 4)) return src;
        var d = src.Pixels;
        for (int i = 0; i < d.Length; i += c)
        {
            int a = d[i + c - 1];
            if (a is 0 or 255) continue;
            for (int k = 0; k < c - 1; k++) d[i + k] = (byte)Math.Min(255, 255 * d[i + k] / a);
        }
        return src;
    }
}
