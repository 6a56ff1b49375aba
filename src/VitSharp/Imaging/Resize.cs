using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using VitSharp.Kernels;

namespace VitSharp.Imaging;

/// <summary>Resampling filters, named as Pillow names them.</summary>
public enum ResampleFilter
{
    Nearest,
    Box,
    Bilinear,
    Hamming,
    Bicubic,
    Lanczos,
}

/// <summary>
/// Resizing that reproduces Pillow's <c>Image.resize</c> on 8-bit images pixel for pixel: a separable
/// convolution whose filter support is widened by the downscale factor (antialiasing), horizontal pass first
/// into an 8-bit intermediate, then vertical; coefficients normalised per output pixel and quantised to
/// 22 fractional bits with sign-aware rounding, sums started at half a unit and clipped to 0..255. Matching
/// these details (not just "bilinear") is what makes fine-tuned models see the pixels they were trained on.
/// </summary>
public static class ImageResize
{
    private const int PrecisionBits = 32 - 8 - 2;

    /// <summary>Resizes the whole image to <paramref name="width"/>×<paramref name="height"/>.</summary>
    public static Image Resize(Image src, int width, int height, ResampleFilter filter = ResampleFilter.Bilinear)
        => Resize(src, width, height, filter, 0, 0, src.Width, src.Height);

    /// <summary>
    /// Resizes the source region (<paramref name="x0"/>,<paramref name="y0"/>)-(<paramref name="x1"/>,<paramref name="y1"/>)
    /// (Pillow's <c>box</c>) to <paramref name="width"/>×<paramref name="height"/>.
    /// </summary>
    public static Image Resize(Image src, int width, int height, ResampleFilter filter, float x0, float y0, float x1, float y1)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (width <= 0 || height <= 0) throw new VitException($"resize: target size {width}x{height} must be positive");
        if (x0 < 0 || y0 < 0 || x1 > src.Width || y1 > src.Height || x1 <= x0 || y1 <= y0)
            throw new VitException($"resize: box ({x0},{y0},{x1},{y1}) is outside the {src.Width}x{src.Height} image");
        if (filter == ResampleFilter.Nearest) return Nearest(src, width, height, x0, y0, x1, y1);
        // Pillow resamples LA/RGBA with premultiplied alpha so transparent pixels do not bleed their colour.
        bool alpha = src.Channels is 2 or 4;
        Image input = alpha ? ColorOps.Premultiply(src) : src;
        Image result = Convolve(input, width, height, filter, x0, y0, x1, y1);
        return alpha ? ColorOps.Unpremultiply(result) : result;
    }

    private static Image Convolve(Image src, int width, int height, ResampleFilter filter, float x0, float y0, float x1, float y1)
    {
        bool needH = width != src.Width || x0 != 0 || x1 != width;
        bool needV = height != src.Height || y0 != 0 || y1 != height;
        var horiz = Coefficients.Get(src.Width, x0, x1, width, filter);
        var vert = Coefficients.Get(src.Height, y0, y1, height, filter);

        Image cur = src;
        int rowOffset = 0;
        int[] vBounds = vert.Bounds;
        if (needH)
        {
            // Only the source rows the vertical pass will read are resampled horizontally.
            int first = vert.Bounds[0];
            int last = vert.Bounds[height * 2 - 2] + vert.Bounds[height * 2 - 1];
            var tmp = new Image(width, last - first, src.Channels);
            Horizontal(src, tmp, first, horiz);
            cur = tmp;
            rowOffset = first;
        }
        if (needV)
        {
            var outImg = new Image(cur.Width, height, cur.Channels);
            Vertical(cur, outImg, rowOffset, vert);
            return outImg;
        }
        return ReferenceEquals(cur, src) ? new Image(src.Width, src.Height, src.Channels, (byte[])src.Pixels.Clone()) : cur;
    }

    /// <summary>Precomputed per-output-pixel windows (start, length) and fixed-point weights.</summary>
    internal sealed class Coefficients
    {
        public required int KSize { get; init; }
        public required int[] Bounds { get; init; }
        public required int[] Weights { get; init; }

        private static readonly System.Collections.Concurrent.ConcurrentDictionary<(int, float, float, int, ResampleFilter), Coefficients> Cache = new();

        public static Coefficients Get(int inSize, float in0, float in1, int outSize, ResampleFilter filter)
        {
            var key = (inSize, in0, in1, outSize, filter);
            if (Cache.TryGetValue(key, out var c)) return c;
            c = Compute(inSize, in0, in1, outSize, filter);
            if (Cache.Count < 4096) Cache.TryAdd(key, c);
            return c;
        }

        public static Coefficients Compute(int inSize, float in0, float in1, int outSize, ResampleFilter filter)
        {
            double support0 = Support(filter);
            double scale = (double)(in1 - in0) / outSize;
            double filterScale = Math.Max(scale, 1.0);
            double support = support0 * filterScale;
            int ksize = (int)Math.Ceiling(support) * 2 + 1;
            if ((long)ksize * outSize > 1 << 28) throw new VitException($"resize: {inSize} -> {outSize} needs too many coefficients");
            var bounds = new int[outSize * 2];
            var weights = new int[outSize * ksize];
            var k = new double[ksize];
            double ss = 1.0 / filterScale;
            for (int xx = 0; xx < outSize; xx++)
            {
                double center = in0 + (xx + 0.5) * scale;
                int xmin = (int)(center - support + 0.5);
                if (xmin < 0) xmin = 0;
                int xmax = (int)(center + support + 0.5);
                if (xmax > inSize) xmax = inSize;
                xmax -= xmin;
                double ww = 0;
                for (int x = 0; x < xmax; x++)
                {
                    double w = Filter(filter, (x + xmin - center + 0.5) * ss);
                    k[x] = w;
                    ww += w;
                }
                for (int x = 0; x < xmax; x++)
                {
                    double v = ww != 0.0 ? k[x] / ww : k[x];
                    weights[xx * ksize + x] = v < 0
                        ? (int)(-0.5 + v * (1 << PrecisionBits))
                        : (int)(0.5 + v * (1 << PrecisionBits));
                }
                bounds[xx * 2] = xmin;
                bounds[xx * 2 + 1] = Math.Max(xmax, 0);
            }
            return new Coefficients { KSize = ksize, Bounds = bounds, Weights = weights };
        }
    }

    private static double Support(ResampleFilter f) => f switch
    {
        ResampleFilter.Box => 0.5,
        ResampleFilter.Bilinear => 1.0,
        ResampleFilter.Hamming => 1.0,
        ResampleFilter.Bicubic => 2.0,
        ResampleFilter.Lanczos => 3.0,
        _ => throw new ArgumentOutOfRangeException(nameof(f)),
    };

    private static double Filter(ResampleFilter f, double x)
    {
        switch (f)
        {
            case ResampleFilter.Box:
                return x > -0.5 && x <= 0.5 ? 1.0 : 0.0;
            case ResampleFilter.Bilinear:
                if (x < 0) x = -x;
                return x < 1.0 ? 1.0 - x : 0.0;
            case ResampleFilter.Hamming:
                if (x < 0) x = -x;
                if (x == 0) return 1.0;
                if (x >= 1.0) return 0.0;
                x *= Math.PI;
                return Math.Sin(x) / x * (0.54 + 0.46 * Math.Cos(x));
            case ResampleFilter.Bicubic:
                {
                    const double a = -0.5;
                    if (x < 0) x = -x;
                    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
                    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
                    return 0.0;
                }
            case ResampleFilter.Lanczos:
                return x > -3.0 && x < 3.0 ? Sinc(x) * Sinc(x / 3.0) : 0.0;
            default:
                throw new ArgumentOutOfRangeException(nameof(f));
        }
    }

    private static double Sinc(double x)
    {
        if (x == 0.0) return 1.0;
        x *= Math.PI;
        return Math.Sin(x) / x;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static byte Clip8(int v)
    {
        v >>= PrecisionBits;
        return v < 0 ? (byte)0 : v > 255 ? (byte)255 : (byte)v;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Horizontal(Image src, Image dst, int rowOffset, Coefficients co)
    {
        int c = src.Channels, ksize = co.KSize, outW = dst.Width;
        int half = 1 << (PrecisionBits - 1);
        bool sse = Cpu.Level >= SimdLevel.Vector256 && Sse41.IsSupported;
        fixed (byte* sp = src.Pixels)
        fixed (byte* dp = dst.Pixels)
        fixed (int* kp = co.Weights)
        fixed (int* bp = co.Bounds)
        {
            for (int yy = 0; yy < dst.Height; yy++)
            {
                byte* inRow = sp + (long)(yy + rowOffset) * src.Stride;
                byte* outRow = dp + (long)yy * dst.Stride;
                switch (c)
                {
                    case 1:
                        for (int xx = 0; xx < outW; xx++)
                        {
                            int xmin = bp[xx * 2], xmax = bp[xx * 2 + 1];
                            int* k = kp + xx * ksize;
                            byte* p = inRow + xmin;
                            int s0 = half;
                            for (int x = 0; x < xmax; x++) s0 += p[x] * k[x];
                            outRow[xx] = Clip8(s0);
                        }
                        break;
                    case 3 when sse:
                        {
                            // one 4-lane multiply-add per tap (R, G, B and the next pixel's R, ignored); the last
                            // pixel of the image would read one byte past the buffer, so it takes the scalar path
                            byte* end = sp + src.Pixels.Length;
                            var vhalf = Vector128.Create(half);
                            for (int xx = 0; xx < outW; xx++)
                            {
                                int xmin = bp[xx * 2], xmax = bp[xx * 2 + 1];
                                int* k = kp + xx * ksize;
                                byte* p = inRow + xmin * 3;
                                byte* o = outRow + xx * 3;
                                if (p + xmax * 3 + 1 > end)
                                {
                                    int s0 = half, s1 = half, s2 = half;
                                    for (int x = 0; x < xmax; x++, p += 3)
                                    {
                                        int w = k[x];
                                        s0 += p[0] * w; s1 += p[1] * w; s2 += p[2] * w;
                                    }
                                    o[0] = Clip8(s0); o[1] = Clip8(s1); o[2] = Clip8(s2);
                                    continue;
                                }
                                var acc = vhalf;
                                for (int x = 0; x < xmax; x++, p += 3)
                                    acc += Sse41.ConvertToVector128Int32(p) * Vector128.Create(k[x]);
                                acc = Vector128.ShiftRightArithmetic(acc, PrecisionBits);
                                acc = Vector128.Min(Vector128.Max(acc, Vector128<int>.Zero), Vector128.Create(255));
                                o[0] = (byte)acc.GetElement(0); o[1] = (byte)acc.GetElement(1); o[2] = (byte)acc.GetElement(2);
                            }
                            break;
                        }
                    case 4 when sse:
                        {
                            var vhalf = Vector128.Create(half);
                            for (int xx = 0; xx < outW; xx++)
                            {
                                int xmin = bp[xx * 2], xmax = bp[xx * 2 + 1];
                                int* k = kp + xx * ksize;
                                byte* p = inRow + xmin * 4;
                                var acc = vhalf;
                                for (int x = 0; x < xmax; x++, p += 4)
                                    acc += Sse41.ConvertToVector128Int32(p) * Vector128.Create(k[x]);
                                acc = Vector128.ShiftRightArithmetic(acc, PrecisionBits);
                                acc = Vector128.Min(Vector128.Max(acc, Vector128<int>.Zero), Vector128.Create(255));
                                var packed = Vector128.Narrow(Vector128.Narrow(acc.AsUInt32(), acc.AsUInt32()), Vector128<ushort>.Zero);
                                *(uint*)(outRow + xx * 4) = packed.AsUInt32().ToScalar();
                            }
                            break;
                        }
                    case 3:
                        for (int xx = 0; xx < outW; xx++)
                        {
                            int xmin = bp[xx * 2], xmax = bp[xx * 2 + 1];
                            int* k = kp + xx * ksize;
                            byte* p = inRow + xmin * 3;
                            int s0 = half, s1 = half, s2 = half;
                            for (int x = 0; x < xmax; x++, p += 3)
                            {
                                int w = k[x];
                                s0 += p[0] * w; s1 += p[1] * w; s2 += p[2] * w;
                            }
                            byte* o = outRow + xx * 3;
                            o[0] = Clip8(s0); o[1] = Clip8(s1); o[2] = Clip8(s2);
                        }
                        break;
                    default:
                        for (int xx = 0; xx < outW; xx++)
                        {
                            int xmin = bp[xx * 2], xmax = bp[xx * 2 + 1];
                            int* k = kp + xx * ksize;
                            for (int ch = 0; ch < c; ch++)
                            {
                                byte* p = inRow + xmin * c + ch;
                                int s = half;
                                for (int x = 0; x < xmax; x++) s += p[x * c] * k[x];
                                outRow[xx * c + ch] = Clip8(s);
                            }
                        }
                        break;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Vertical(Image src, Image dst, int rowOffset, Coefficients co)
    {
        int ksize = co.KSize, rowLen = dst.Stride, stride = src.Stride;
        int half = 1 << (PrecisionBits - 1);
        bool simd = Cpu.Level >= SimdLevel.Vector256 && Vector256.IsHardwareAccelerated;
        fixed (byte* sp = src.Pixels)
        fixed (byte* dp = dst.Pixels)
        fixed (int* kp = co.Weights)
        fixed (int* bp = co.Bounds)
        {
            for (int yy = 0; yy < dst.Height; yy++)
            {
                int ymin = bp[yy * 2] - rowOffset, ymax = bp[yy * 2 + 1];
                int* k = kp + yy * ksize;
                byte* inBase = sp + (long)ymin * stride;
                byte* outRow = dp + (long)yy * rowLen;
                int i = 0;
                if (simd)
                {
                    var vhalf = Vector256.Create(half);
                    var zero = Vector256<int>.Zero;
                    var max = Vector256.Create(255);
                    for (; i + 16 <= rowLen; i += 16)
                    {
                        Vector256<int> a0 = vhalf, a1 = vhalf;
                        byte* p = inBase + i;
                        for (int y = 0; y < ymax; y++, p += stride)
                        {
                            var w = Vector256.Create(k[y]);
                            var u16 = Vector256.WidenLower(Vector256.Create(Vector128.Load(p), Vector128<byte>.Zero));
                            a0 += Vector256.WidenLower(u16).AsInt32() * w;
                            a1 += Vector256.WidenUpper(u16).AsInt32() * w;
                        }
                        a0 = Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(a0, PrecisionBits), zero), max);
                        a1 = Vector256.Min(Vector256.Max(Vector256.ShiftRightArithmetic(a1, PrecisionBits), zero), max);
                        var n16 = Vector256.Narrow(a0.AsUInt32(), a1.AsUInt32());
                        var n8 = Vector256.Narrow(n16, n16);
                        n8.GetLower().Store(outRow + i);
                    }
                }
                for (; i < rowLen; i++)
                {
                    int s = half;
                    byte* p = inBase + i;
                    for (int y = 0; y < ymax; y++, p += stride) s += *p * k[y];
                    outRow[i] = Clip8(s);
                }
            }
        }
    }

    /// <summary>
    /// Pillow's NEAREST resize: an affine "scale" transform sampling at pixel centres, with the source
    /// position accumulated in doubles exactly as Pillow steps it (so ties fall on the same side).
    /// </summary>
    private static Image Nearest(Image src, int width, int height, float x0, float y0, float x1, float y1)
    {
        double a0 = (double)(x1 - x0) / width, a2 = x0;
        double a4 = (double)(y1 - y0) / height, a5 = y0;
        var xin = new int[width];
        double xo = a2 + a0 * 0.5;
        for (int x = 0; x < width; x++)
        {
            xin[x] = Coord(xo, src.Width);
            xo += a0;
        }
        int c = src.Channels;
        var dst = new Image(width, height, c);
        double yo = a5 + a4 * 0.5;
        for (int y = 0; y < height; y++)
        {
            int yi = Coord(yo, src.Height);
            yo += a4;
            var outRow = dst.Pixels.AsSpan(y * dst.Stride, dst.Stride);
            if (yi < 0) continue;
            var inRow = src.Pixels.AsSpan(yi * src.Stride, src.Stride);
            for (int x = 0; x < width; x++)
            {
                int xi = xin[x];
                if (xi < 0) continue;
                inRow.Slice(xi * c, c).CopyTo(outRow.Slice(x * c, c));
            }
        }
        return dst;
    }

    private static int Coord(double v, int size)
    {
        int i = v < 0 ? -1 : (int)v;
        return i < size ? i : -1;
    }
}
