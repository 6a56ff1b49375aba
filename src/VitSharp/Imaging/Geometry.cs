namespace VitSharp.Imaging;

/// <summary>
/// Geometric operations with Pillow's semantics: crop (zero outside the image), flips, padding, and the
/// nearest-neighbour affine transform (output→input matrix, pixel-centre sampling, 16.16 fixed point when it
/// fits) that torchvision's PIL backend uses for RandAugment's shear/translate/rotate.
/// </summary>
public static class ImageGeometry
{
    /// <summary>Pillow's crop((left, top, left+width, top+height)): areas outside the source are zero.</summary>
    public static Image Crop(Image src, int left, int top, int width, int height)
    {
        if (width <= 0 || height <= 0) throw new VitException($"crop: size {width}x{height} must be positive");
        int c = src.Channels;
        var dst = new Image(width, height, c);
        int x0 = Math.Max(left, 0), x1 = Math.Min(left + width, src.Width);
        if (x1 <= x0) return dst;
        for (int y = 0; y < height; y++)
        {
            int sy = top + y;
            if (sy < 0 || sy >= src.Height) continue;
            src.Pixels.AsSpan(sy * src.Stride + x0 * c, (x1 - x0) * c)
                .CopyTo(dst.Pixels.AsSpan(y * dst.Stride + (x0 - left) * c));
        }
        return dst;
    }

    /// <summary>Zero padding: left, top, right, bottom pixels.</summary>
    public static Image Pad(Image src, int left, int top, int right, int bottom, byte fill = 0)
    {
        var dst = new Image(src.Width + left + right, src.Height + top + bottom, src.Channels);
        if (fill != 0) dst.Pixels.AsSpan().Fill(fill);
        for (int y = 0; y < src.Height; y++)
            src.Pixels.AsSpan(y * src.Stride, src.Stride).CopyTo(dst.Pixels.AsSpan((y + top) * dst.Stride + left * src.Channels));
        return dst;
    }

    /// <summary>Mirror left↔right.</summary>
    public static Image FlipHorizontal(Image src)
    {
        int c = src.Channels, w = src.Width;
        var dst = new Image(w, src.Height, c);
        var s = src.Pixels;
        var d = dst.Pixels;
        for (int y = 0; y < src.Height; y++)
        {
            int row = y * src.Stride;
            for (int x = 0; x < w; x++)
                for (int k = 0; k < c; k++) d[row + x * c + k] = s[row + (w - 1 - x) * c + k];
        }
        return dst;
    }

    /// <summary>Mirror top↔bottom.</summary>
    public static Image FlipVertical(Image src)
    {
        var dst = new Image(src.Width, src.Height, src.Channels);
        for (int y = 0; y < src.Height; y++)
            src.Pixels.AsSpan(y * src.Stride, src.Stride).CopyTo(dst.Pixels.AsSpan((src.Height - 1 - y) * src.Stride));
        return dst;
    }

    /// <summary>
    /// Pillow's <c>transform(size, AFFINE, matrix, NEAREST)</c>: for output pixel (x, y) the source is
    /// (a0·x + a1·y + a2, a3·x + a4·y + a5) evaluated at pixel centres; pixels mapping outside are 0.
    /// </summary>
    public static Image AffineNearest(Image src, ReadOnlySpan<double> a, int outWidth, int outHeight)
    {
        if (a.Length < 6) throw new ArgumentException("affine matrix needs 6 values", nameof(a));
        int c = src.Channels;
        var dst = new Image(outWidth, outHeight, c);
        var s = src.Pixels;
        var d = dst.Pixels;
        int w = src.Width, h = src.Height;
        if (a[1] == 0 && a[3] == 0)
        {
            // Pillow's pure-scale path: positions stepped in doubles.
            var xin = new int[outWidth];
            double xo = a[2] + a[0] * 0.5;
            for (int x = 0; x < outWidth; x++) { xin[x] = Coord(xo); xo += a[0]; }
            double yo = a[5] + a[4] * 0.5;
            for (int y = 0; y < outHeight; y++)
            {
                int yi = Coord(yo);
                yo += a[4];
                if (yi < 0 || yi >= h) continue;
                for (int x = 0; x < outWidth; x++)
                {
                    int xi = xin[x];
                    if (xi < 0 || xi >= w) continue;
                    for (int k = 0; k < c; k++) d[(y * outWidth + x) * c + k] = s[(yi * w + xi) * c + k];
                }
            }
            return dst;
        }
        if (CheckFixed(a, 0, 0) && CheckFixed(a, outWidth, outHeight) && CheckFixed(a, 0, outHeight) && CheckFixed(a, outWidth, 0))
        {
            int a0 = Fix(a[0]), a1 = Fix(a[1]), a3 = Fix(a[3]), a4 = Fix(a[4]);
            int a2 = Fix(a[2] + a[0] * 0.5 + a[1] * 0.5);
            int a5 = Fix(a[5] + a[3] * 0.5 + a[4] * 0.5);
            for (int y = 0; y < outHeight; y++)
            {
                int xx = a2, yy = a5;
                for (int x = 0; x < outWidth; x++, xx += a0, yy += a3)
                {
                    int xi = xx >> 16;
                    if (xi < 0 || xi >= w) continue;
                    int yi = yy >> 16;
                    if (yi < 0 || yi >= h) continue;
                    for (int k = 0; k < c; k++) d[(y * outWidth + x) * c + k] = s[(yi * w + xi) * c + k];
                }
                a2 += a1;
                a5 += a4;
            }
            return dst;
        }
        double xo2 = a[2] + a[1] * 0.5 + a[0] * 0.5, yo2 = a[5] + a[4] * 0.5 + a[3] * 0.5;
        for (int y = 0; y < outHeight; y++)
        {
            double xx = xo2, yy = yo2;
            for (int x = 0; x < outWidth; x++, xx += a[0], yy += a[3])
            {
                int xi = Coord(xx);
                if (xi < 0 || xi >= w) continue;
                int yi = Coord(yy);
                if (yi < 0 || yi >= h) continue;
                for (int k = 0; k < c; k++) d[(y * outWidth + x) * c + k] = s[(yi * w + xi) * c + k];
            }
            xo2 += a[1];
            yo2 += a[4];
        }
        return dst;
    }

    private static int Coord(double v) => v < 0.0 ? -1 : (int)v;

    private static int Floor(double v) => v < 0.0 ? (int)Math.Floor(v) : (int)v;

    private static int Fix(double v) => Floor(v * 65536.0 + 0.5);

    private static bool CheckFixed(ReadOnlySpan<double> a, int x, int y)
        => Math.Abs(x * a[0] + y * a[1] + a[2]) < 32768.0 && Math.Abs(x * a[3] + y * a[4] + a[5]) < 32768.0;

    /// <summary>
    /// torchvision's inverse affine matrix (rotation about <paramref name="cx"/>,<paramref name="cy"/>, translate,
    /// scale, shear in degrees) as fed to Pillow.
    /// </summary>
    public static double[] InverseAffineMatrix(double cx, double cy, double angle, double tx, double ty, double scale, double shearX, double shearY)
    {
        double rot = angle * Math.PI / 180, sx = shearX * Math.PI / 180, sy = shearY * Math.PI / 180;
        double a = Math.Cos(rot - sy) / Math.Cos(sy);
        double b = -Math.Cos(rot - sy) * Math.Tan(sx) / Math.Cos(sy) - Math.Sin(rot);
        double c = Math.Sin(rot - sy) / Math.Cos(sy);
        double d = -Math.Sin(rot - sy) * Math.Tan(sx) / Math.Cos(sy) + Math.Cos(rot);
        var m = new[] { d / scale, -b / scale, 0.0, -c / scale, a / scale, 0.0 };
        m[2] += m[0] * (-cx - tx) + m[1] * (-cy - ty);
        m[5] += m[3] * (-cx - tx) + m[4] * (-cy - ty);
        m[2] += cx;
        m[5] += cy;
        return m;
    }

    /// <summary>torchvision F.affine on a PIL image (nearest, fill 0); centre defaults to (w/2, h/2).</summary>
    public static Image Affine(Image src, double angle, double tx, double ty, double scale, double shearX, double shearY, double? cx = null, double? cy = null)
    {
        var m = InverseAffineMatrix(cx ?? src.Width * 0.5, cy ?? src.Height * 0.5, angle, tx, ty, scale, shearX, shearY);
        return AffineNearest(src, m, src.Width, src.Height);
    }

    /// <summary>Pillow's Image.rotate(angle) counter-clockwise about the centre, same size, nearest, fill 0.</summary>
    public static Image Rotate(Image src, double angle)
    {
        angle %= 360.0;
        if (angle < 0) angle += 360.0;
        int w = src.Width, h = src.Height;
        if (angle == 0) return new Image(w, h, src.Channels, (byte[])src.Pixels.Clone());
        if (angle == 180) return FlipVertical(FlipHorizontal(src));
        if ((angle == 90 || angle == 270) && w == h) return Transpose90(src, angle == 90);
        double r = -angle * Math.PI / 180;
        double cos = Math.Round(Math.Cos(r), 15), sin = Math.Round(Math.Sin(r), 15);
        var m = new[] { cos, sin, 0.0, -sin, cos, 0.0 };
        double cx = w / 2.0, cy = h / 2.0;
        m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
        m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
        return AffineNearest(src, m, w, h);
    }

    /// <summary>Exact quarter turn of a square image (Pillow's transpose shortcut).</summary>
    private static Image Transpose90(Image src, bool counterClockwise)
    {
        int n = src.Width, c = src.Channels;
        var dst = new Image(n, n, c);
        for (int y = 0; y < n; y++)
            for (int x = 0; x < n; x++)
            {
                // ROTATE_90 (ccw): out(x, y) = in(n-1-y, x); ROTATE_270: out(x, y) = in(y, n-1-x)
                int sx = counterClockwise ? n - 1 - y : y, sy = counterClockwise ? x : n - 1 - x;
                for (int k = 0; k < c; k++) dst.Pixels[(y * n + x) * c + k] = src.Pixels[(sy * n + sx) * c + k];
            }
        return dst;
    }
}
