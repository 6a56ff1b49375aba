using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VitSharp.Imaging.Jpeg;

internal sealed unsafe partial class JpegDecoder
{
    // libjpeg's jdcolor.c tables (16-bit fixed point, rounding folded into Cb→G).
    private static readonly int[] CrR = new int[256], CbB = new int[256], CrG = new int[256], CbG = new int[256];

    static JpegDecoder()
    {
        const int scaleBits = 16;
        const long half = 1L << (scaleBits - 1);
        static long Fix(double x) => (long)(x * (1L << scaleBits) + 0.5);
        for (int i = 0, x = -128; i < 256; i++, x++)
        {
            CrR[i] = (int)((Fix(1.40200) * x + half) >> scaleBits);
            CbB[i] = (int)((Fix(1.77200) * x + half) >> scaleBits);
            CrG[i] = (int)(-Fix(0.71414) * x);
            CbG[i] = (int)(-Fix(0.34414) * x + half);
        }
    }

    private enum ColorSpace { Gray, YCbCr, Rgb, Cmyk, Ycck }

    private ColorSpace DetermineColorSpace()
    {
        // The rules of libjpeg-turbo's default_decompress_parms.
        if (_comps.Length == 1) return ColorSpace.Gray;
        if (_comps.Length == 3)
        {
            if (_sawJfif) return ColorSpace.YCbCr;
            if (_sawAdobe) return _adobeTransform == 0 ? ColorSpace.Rgb : ColorSpace.YCbCr;
            if (_comps[0].Id == 82 && _comps[1].Id == 71 && _comps[2].Id == 66) return ColorSpace.Rgb;
            return ColorSpace.YCbCr;
        }
        if (_sawAdobe) return _adobeTransform == 0 ? ColorSpace.Cmyk : ColorSpace.Ycck;
        return ColorSpace.Cmyk;
    }

    private Image? _img;
    private ColorSpace _cs;
    private int _outRow;
    private byte[][] _rowBufs = [];

    private void PrepareOutput()
    {
        _cs = DetermineColorSpace();
        _img = new Image(_width, _height, _cs == ColorSpace.Gray ? 1 : 3);
        _rowBufs = new byte[_comps.Length][];
        for (int i = 0; i < _comps.Length; i++)
        {
            _rowBufs[i] = GC.AllocateUninitializedArray<byte>(_width + 64, pinned: true);
            _comps[i].ColSums = GC.AllocateUninitializedArray<short>(_comps[i].CompW + 64, pinned: true);
        }
    }

    private Image Finish()
    {
        if (_img == null) throw Fail("no image data");
        if (_coeffMode)
        {
            // A component that no scan ever held has no latched table; like libjpeg it decodes as zero
            // coefficients (mid-gray), and must not reach the IDCT with a null table.
            foreach (var c in _comps)
            {
                if (c.Quant != null) continue;
                c.Quant = GC.AllocateArray<ushort>(64, pinned: true);
                var qi = GC.AllocateArray<int>(64, pinned: true);
                _quantInts.Add(qi);
                c.QuantPtr = (ushort*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(c.Quant));
                c.QuantInt = (int*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(qi));
            }
            // IDCT one MCU row of every component, then convert the output rows it completes (cache-friendly).
            for (int my = 0; my < _mcusY; my++)
            {
                foreach (var c in _comps)
                {
                    int byEnd = Math.Min(c.BlocksH, (my + 1) * c.V);
                    for (int by = my * c.V; by < byEnd; by++)
                        for (int bx = 0; bx < c.BlocksW; bx++)
                        {
                            short* blk = c.CoeffPtr + ((long)by * c.BlocksWPad + bx) * 64;
                            byte* dst = c.PlanePtr + (long)by * 8 * c.PlaneStride + bx * 8;
                            if (_simd) JpegSimd.Idct(blk, c.QuantInt, dst, c.PlaneStride);
                            else JpegIdct.Transform(blk, c.QuantPtr, dst, c.PlaneStride, JpegIdct.RangePtr);
                        }
                }
                EmitRows((my + 1) * 8 * _maxV);
            }
        }
        EmitRows(int.MaxValue);
        var img = _img;
        if (_opt.ApplyExifOrientation && _orientation is >= 2 and <= 8) img = ExifOrientation.Apply(img, _orientation);
        return img;
    }

    /// <summary>Converts every output row whose source rows are decoded, given that component rows up to
    /// <paramref name="fullRowsDone"/> × V / maxV (in full-resolution units) are available.</summary>
    private void EmitRows(long fullRowsDone)
    {
        var img = _img!;
        int w = _width, h = _height, nc = _comps.Length;
        byte** rows = stackalloc byte*[4];
        int y = _outRow;
        for (; y < h; y++)
        {
            bool ready = true;
            foreach (var c in _comps)
            {
                long avail = Math.Min(c.CompH, fullRowsDone * c.V / _maxV);
                int vf = _maxV / c.V;
                // Fancy vertical upsampling also reads the next component row (clamped at the bottom edge).
                int need = vf == 1 ? y : Math.Min(c.CompH - 1, y / vf + 1);
                if (need >= avail) { ready = false; break; }
            }
            if (!ready) break;
            for (int i = 0; i < nc; i++)
                rows[i] = UpsampleRow(_comps[i], y, (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_rowBufs[i])));
            fixed (byte* outBase = img.Pixels)
            {
                byte* o = outBase + (long)y * img.Stride;
                switch (_cs)
                {
                    case ColorSpace.Gray: Buffer.MemoryCopy(rows[0], o, w, w); break;
                    case ColorSpace.YCbCr:
                        {
                            int done = _simd ? JpegSimd.YccToRgb(rows[0], rows[1], rows[2], o, w) : 0;
                            YccToRgbRow(rows[0] + done, rows[1] + done, rows[2] + done, o + 3 * done, w - done);
                            break;
                        }
                    case ColorSpace.Rgb:
                        for (int x = 0; x < w; x++) { o[3 * x] = rows[0][x]; o[3 * x + 1] = rows[1][x]; o[3 * x + 2] = rows[2][x]; }
                        break;
                    default: CmykToRgbRow(rows, o, w, _cs == ColorSpace.Ycck); break;
                }
            }
        }
        _outRow = y;
    }

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void YccToRgbRow(byte* yp, byte* cbp, byte* crp, byte* o, int w)
    {
        fixed (int* crr = CrR, cbb = CbB, crg = CrG, cbg = CbG)
        {
            for (int x = 0; x < w; x++)
            {
                int y = yp[x], cb = cbp[x], cr = crp[x];
                int r = y + crr[cr];
                int g = y + ((cbg[cb] + crg[cr]) >> 16);
                int b = y + cbb[cb];
                o[0] = (byte)((uint)r <= 255 ? r : r < 0 ? 0 : 255);
                o[1] = (byte)((uint)g <= 255 ? g : g < 0 ? 0 : 255);
                o[2] = (byte)((uint)b <= 255 ? b : b < 0 ? 0 : 255);
                o += 3;
            }
        }
    }

    private static void CmykToRgbRow(byte** rows, byte* o, int w, bool ycck)
    {
        for (int x = 0; x < w; x++)
        {
            int c = rows[0][x], m = rows[1][x], yy = rows[2][x], k = rows[3][x];
            if (ycck)
            {
                // libjpeg's ycck_cmyk_convert: YCbCr→RGB, then C,M,Y = 255 - R,G,B; K passes through.
                int y = c, cb = m, cr = yy;
                c = Math.Clamp(255 - (y + CrR[cr]), 0, 255);
                m = Math.Clamp(255 - (y + ((CbG[cb] + CrG[cr]) >> 16)), 0, 255);
                yy = Math.Clamp(255 - (y + CbB[cb]), 0, 255);
            }
            // PIL reads JPEG CMYK as inverted ("CMYK;I", Adobe convention), then convert('RGB') does
            // R = nk - c*nk/255 with its MULDIV255 rounding, nk = 255 - k.
            int nk = k; // 255 - (255 - k)
            o[0] = (byte)Math.Clamp(nk - MulDiv255(255 - c, nk), 0, 255);
            o[1] = (byte)Math.Clamp(nk - MulDiv255(255 - m, nk), 0, 255);
            o[2] = (byte)Math.Clamp(nk - MulDiv255(255 - yy, nk), 0, 255);
            o += 3;
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int MulDiv255(int a, int b)
    {
        int t = a * b + 128;
        return ((t >> 8) + t) >> 8;
    }

    /// <summary>Produces output row <paramref name="y"/> of component <paramref name="c"/> at full resolution,
    /// with libjpeg-turbo's choice of upsampler (fancy triangle filters where it uses them, box otherwise).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private byte* UpsampleRow(Component c, int y, byte* tmp)
    {
        int hf = _maxH / c.H, vf = _maxV / c.V;
        int cw = c.CompW, w = _width;
        byte* plane = c.PlanePtr;
        int stride = c.PlaneStride;
        if (hf == 1 && vf == 1) return plane + (long)y * stride;
        if (hf == 2 && vf == 1 && cw > 2)
        {
            byte* a = plane + (long)y * stride;
            if (_simd)
            {
                fixed (short* cs = c.ColSums)
                {
                    JpegSimd.ColumnSums(a, null, cs + 1, cw);
                    JpegSimd.FancyDouble(cs + 1, tmp, (w + 1) >> 1, 1, 2, 2);
                }
            }
            else H2V1(a, tmp, cw, w);
            return tmp;
        }
        if (hf == 1 && vf == 2)
        {
            int r = y >> 1;
            int nb = (y & 1) == 0 ? Math.Max(r - 1, 0) : Math.Min(r + 1, c.CompH - 1);
            byte* a = plane + (long)r * stride, b = plane + (long)nb * stride;
            int bias = (y & 1) == 0 ? 1 : 2;
            for (int x = 0; x < w; x++) tmp[x] = (byte)((3 * a[x] + b[x] + bias) >> 2);
            return tmp;
        }
        if (hf == 2 && vf == 2 && cw > 2)
        {
            int r = y >> 1;
            int nb = (y & 1) == 0 ? Math.Max(r - 1, 0) : Math.Min(r + 1, c.CompH - 1);
            byte* a = plane + (long)r * stride, b = plane + (long)nb * stride;
            if (_simd)
            {
                fixed (short* cs = c.ColSums)
                {
                    JpegSimd.ColumnSums(a, b, cs + 1, cw);
                    JpegSimd.FancyDouble(cs + 1, tmp, (w + 1) >> 1, 8, 7, 4);
                }
            }
            else H2V2(a, b, tmp, cw, w);
            return tmp;
        }
        {
            byte* a = plane + (long)(y / vf) * stride;
            for (int x = 0; x < w; x++) tmp[x] = a[x / hf];
            return tmp;
        }
    }

    private static void H2V1(byte* a, byte* o, int cw, int w)
    {
        // out[2i] = (3a[i] + a[i-1] + 1) >> 2, out[2i+1] = (3a[i] + a[i+1] + 2) >> 2, edges replicated.
        int n = (w + 1) >> 1; // input samples that produce output
        for (int i = 0; i < n; i++)
        {
            int cur = 3 * a[i];
            int prev = a[i > 0 ? i - 1 : 0];
            int next = a[i + 1 < cw ? i + 1 : cw - 1];
            o[2 * i] = (byte)((cur + prev + 1) >> 2);
            o[2 * i + 1] = (byte)((cur + next + 2) >> 2);
        }
    }

    private static void H2V2(byte* a, byte* b, byte* o, int cw, int w)
    {
        int n = (w + 1) >> 1;
        int last = cw - 1;
        int prevSum = 3 * a[0] + b[0];
        int curSum = prevSum;
        for (int i = 0; i < n; i++)
        {
            int j = i + 1 <= last ? i + 1 : last;
            int nextSum = 3 * a[j] + b[j];
            o[2 * i] = (byte)((3 * curSum + prevSum + 8) >> 4);
            o[2 * i + 1] = (byte)((3 * curSum + nextSum + 7) >> 4);
            prevSum = curSum;
            curSum = nextSum;
        }
    }
}
