namespace VitSharp.Imaging;

/// <summary>An 8-bit colour.</summary>
public readonly record struct Rgb(byte R, byte G, byte B)
{
    public static readonly Rgb Black = new(0, 0, 0);
    public static readonly Rgb White = new(255, 255, 255);
    public static readonly Rgb Red = new(230, 30, 30);
}

/// <summary>Simple drawing on <see cref="Image"/>: rectangles, bitmap-font text, labels (for <c>vit predict --annotate</c>).</summary>
public static class Draw
{
    private static void Put(Image img, int x, int y, Rgb c, float alpha)
    {
        if ((uint)x >= (uint)img.Width || (uint)y >= (uint)img.Height) return;
        int ch = img.Channels, o = (y * img.Width + x) * ch;
        var p = img.Pixels;
        if (ch >= 3)
        {
            p[o] = Mix(p[o], c.R, alpha); p[o + 1] = Mix(p[o + 1], c.G, alpha); p[o + 2] = Mix(p[o + 2], c.B, alpha);
            if (ch == 4) p[o + 3] = 255;
        }
        else
        {
            p[o] = Mix(p[o], ColorOps.Luma(c.R, c.G, c.B), alpha);
            if (ch == 2) p[o + 1] = 255;
        }
    }

    private static byte Mix(byte under, byte over, float alpha) =>
        alpha >= 1f ? over : (byte)Math.Clamp((int)MathF.Round(under + (over - under) * alpha), 0, 255);

    /// <summary>Fills a rectangle (clipped to the image), optionally translucent.</summary>
    public static void FillRect(Image img, int x, int y, int width, int height, Rgb color, float alpha = 1f)
    {
        int x0 = Math.Max(0, x), y0 = Math.Max(0, y), x1 = Math.Min(img.Width, x + width), y1 = Math.Min(img.Height, y + height);
        for (int yy = y0; yy < y1; yy++)
            for (int xx = x0; xx < x1; xx++) Put(img, xx, yy, color, alpha);
    }

    /// <summary>Draws one line of text with the 5×7 font at an integer scale; returns the text's pixel size.</summary>
    public static (int Width, int Height) Text(Image img, int x, int y, string text, Rgb color, int scale = 1)
    {
        if (scale < 1) throw new ArgumentOutOfRangeException(nameof(scale), "text scale must be >= 1");
        for (int i = 0; i < text.Length; i++)
        {
            int gx = x + i * BitmapFont.CellWidth * scale;
            for (int col = 0; col < BitmapFont.GlyphWidth; col++)
                for (int row = 0; row < BitmapFont.GlyphHeight; row++)
                    if (BitmapFont.Dot(text[i], col, row))
                        FillRect(img, gx + col * scale, y + row * scale, scale, scale, color);
        }
        return BitmapFont.Measure(text, scale);
    }

    /// <summary>A text scale that makes a line roughly 1/25 of the image height (at least 1).</summary>
    public static int AutoScale(Image img) => Math.Max(1, Math.Min(img.Width, img.Height) / (25 * BitmapFont.CellHeight / 2));

    /// <summary>
    /// Writes lines of text on a filled box at the top-left corner (the tutorials' titled prediction figure,
    /// e.g. "class: tulips prob: 0.987"). Scale 0 picks one from the image size; long lines shrink to fit.
    /// </summary>
    public static void Label(Image img, IReadOnlyList<string> lines, int scale = 0, Rgb? fg = null, Rgb? bg = null, float bgAlpha = 0.75f)
    {
        if (lines.Count == 0) return;
        if (scale <= 0) scale = AutoScale(img);
        int longest = lines.Max(l => l.Length);
        while (scale > 1 && BitmapFont.Measure(new string('x', longest), scale).Width + 2 * scale > img.Width) scale--;
        int pad = 2 * scale, lineH = BitmapFont.CellHeight * scale;
        int boxW = BitmapFont.Measure(new string('x', longest), scale).Width + 2 * pad;
        int boxH = lines.Count * lineH + 2 * pad - scale;
        FillRect(img, 0, 0, boxW, boxH, bg ?? Rgb.Black, bgAlpha);
        for (int i = 0; i < lines.Count; i++) Text(img, pad, pad + i * lineH, lines[i], fg ?? Rgb.White, scale);
    }

    /// <summary>Convenience for a single prediction: "class: NAME prob: 0.xxx".</summary>
    public static void Prediction(Image img, string label, double probability, int scale = 0) =>
        Label(img, [$"class: {label} prob: {probability.ToString("0.000", System.Globalization.CultureInfo.InvariantCulture)}"], scale);
}

/// <summary>Colour maps for attention heat maps.</summary>
public enum ColorMap
{
    Jet,
    Viridis,
}

/// <summary>Turns a scalar grid (e.g. 14×14 attention rollout) into colours and blends it over an image.</summary>
public static class HeatMap
{
    private static readonly (float R, float G, float B)[] ViridisAnchors =
    [
        (68, 1, 84), (71, 44, 122), (59, 81, 139), (44, 113, 142), (33, 144, 141),
        (39, 173, 129), (92, 200, 99), (170, 220, 50), (253, 231, 37),
    ];

    /// <summary>Colour of t ∈ [0, 1].</summary>
    public static Rgb Color(float t, ColorMap map)
    {
        t = float.IsNaN(t) ? 0 : Math.Clamp(t, 0f, 1f);
        if (map == ColorMap.Jet)
        {
            static byte C(float v) => (byte)MathF.Round(Math.Clamp(v, 0f, 1f) * 255f);
            return new Rgb(C(1.5f - MathF.Abs(4 * t - 3)), C(1.5f - MathF.Abs(4 * t - 2)), C(1.5f - MathF.Abs(4 * t - 1)));
        }
        float pos = t * (ViridisAnchors.Length - 1);
        int i = Math.Min((int)pos, ViridisAnchors.Length - 2);
        float f = pos - i;
        var (a, b) = (ViridisAnchors[i], ViridisAnchors[i + 1]);
        return new Rgb((byte)MathF.Round(a.R + (b.R - a.R) * f), (byte)MathF.Round(a.G + (b.G - a.G) * f), (byte)MathF.Round(a.B + (b.B - a.B) * f));
    }

    /// <summary>
    /// The grid (row-major, <paramref name="gridH"/>×<paramref name="gridW"/>) min–max normalised, bilinearly
    /// upsampled (pixel centres) to <paramref name="width"/>×<paramref name="height"/> and coloured (RGB).
    /// </summary>
    public static Image Colorize(ReadOnlySpan<float> grid, int gridW, int gridH, int width, int height, ColorMap map = ColorMap.Jet)
    {
        if (grid.Length != gridW * gridH) throw new ArgumentException($"heat map grid holds {grid.Length} values, {gridW}x{gridH} expected");
        float lo = float.MaxValue, hi = float.MinValue;
        foreach (var v in grid) { if (v < lo) lo = v; if (v > hi) hi = v; }
        float range = hi > lo ? hi - lo : 1f;
        var img = new Image(width, height, 3);
        for (int y = 0; y < height; y++)
        {
            float gy = Math.Clamp((y + 0.5f) * gridH / height - 0.5f, 0, gridH - 1);
            int y0 = (int)gy, y1 = Math.Min(y0 + 1, gridH - 1);
            float fy = gy - y0;
            for (int x = 0; x < width; x++)
            {
                float gx = Math.Clamp((x + 0.5f) * gridW / width - 0.5f, 0, gridW - 1);
                int x0 = (int)gx, x1 = Math.Min(x0 + 1, gridW - 1);
                float fx = gx - x0;
                float v = (grid[y0 * gridW + x0] * (1 - fx) + grid[y0 * gridW + x1] * fx) * (1 - fy)
                        + (grid[y1 * gridW + x0] * (1 - fx) + grid[y1 * gridW + x1] * fx) * fy;
                var c = Color((v - lo) / range, map);
                int o = (y * width + x) * 3;
                img.Pixels[o] = c.R; img.Pixels[o + 1] = c.G; img.Pixels[o + 2] = c.B;
            }
        }
        return img;
    }

    /// <summary>The image (converted to RGB) with the coloured grid alpha-blended over it.</summary>
    public static Image Overlay(Image image, ReadOnlySpan<float> grid, int gridW, int gridH, float alpha = 0.5f, ColorMap map = ColorMap.Jet)
    {
        var heat = Colorize(grid, gridW, gridH, image.Width, image.Height, map);
        var rgb = new Image(image.Width, image.Height, 3);
        int c = image.Channels;
        for (int i = 0; i < image.Width * image.Height; i++)
            for (int k = 0; k < 3; k++)
            {
                byte under = c >= 3 ? image.Pixels[i * c + k] : image.Pixels[i * c];
                rgb.Pixels[i * 3 + k] = (byte)Math.Clamp((int)MathF.Round(under * (1 - alpha) + heat.Pixels[i * 3 + k] * alpha), 0, 255);
            }
        return rgb;
    }
}
