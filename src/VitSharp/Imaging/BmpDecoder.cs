using System.Buffers.Binary;
using System.Numerics;

namespace VitSharp.Imaging;

/// <summary>
/// BMP decoder: 1/4/8-bit palette, 16/24/32-bit, BI_RGB and BI_BITFIELDS, bottom-up and top-down.
/// Like PIL: 32-bit BI_RGB ignores the fourth byte; a palette whose entries are all gray gives L, others RGB;
/// bitfields with an alpha mask give RGBA.
/// </summary>
internal static class BmpDecoder
{
    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt)
    {
        InvalidImageException Fail(string what) => new(name, "BMP: " + what);
        if (data.Length < 26) throw Fail("file is truncated in the header");
        uint offBits = BinaryPrimitives.ReadUInt32LittleEndian(data[10..]);
        uint hdrSize = BinaryPrimitives.ReadUInt32LittleEndian(data[14..]);
        if (hdrSize is not (12 or 40 or 52 or 56 or 64 or 108 or 124)) throw Fail($"unsupported header size {hdrSize}");
        if (14 + hdrSize > data.Length) throw Fail("file is truncated in the header");
        var hd = data.Slice(14, (int)hdrSize);
        long w, h;
        int bpp, compression = 0;
        uint colorsUsed = 0;
        bool core = hdrSize == 12;
        if (core)
        {
            w = BinaryPrimitives.ReadUInt16LittleEndian(hd[4..]);
            h = BinaryPrimitives.ReadUInt16LittleEndian(hd[6..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(hd[10..]);
        }
        else
        {
            w = BinaryPrimitives.ReadInt32LittleEndian(hd[4..]);
            h = BinaryPrimitives.ReadInt32LittleEndian(hd[8..]);
            bpp = BinaryPrimitives.ReadUInt16LittleEndian(hd[14..]);
            compression = (int)BinaryPrimitives.ReadUInt32LittleEndian(hd[16..]);
            colorsUsed = BinaryPrimitives.ReadUInt32LittleEndian(hd[32..]);
        }
        bool topDown = h < 0;
        if (topDown) h = -h;
        if (bpp is not (1 or 4 or 8 or 16 or 24 or 32)) throw Fail($"unsupported bit depth {bpp}");
        if (compression is 1 or 2) throw Fail("RLE-compressed BMP is not supported");
        if (compression is not (0 or 3 or 6)) throw Fail($"unsupported compression {compression}");
        if (compression != 0 && bpp is not (16 or 32)) throw Fail($"bitfields with {bpp} bits per pixel");
        ImageFormatUtil.CheckSize(name, "BMP", w, h, opt);
        int width = (int)w, height = (int)h;

        uint rm = 0, gm = 0, bm = 0, am = 0;
        int paletteStart = 14 + (int)hdrSize;
        if (compression is 3 or 6)
        {
            int maskPos = 14 + 40;
            if (hdrSize == 40)
            {
                paletteStart += compression == 6 ? 16 : 12;
            }
            int need = compression == 6 || hdrSize >= 56 ? 16 : 12;
            if (maskPos + need > data.Length) throw Fail("file is truncated in the bitfield masks");
            rm = BinaryPrimitives.ReadUInt32LittleEndian(data[maskPos..]);
            gm = BinaryPrimitives.ReadUInt32LittleEndian(data[(maskPos + 4)..]);
            bm = BinaryPrimitives.ReadUInt32LittleEndian(data[(maskPos + 8)..]);
            if (need == 16) am = BinaryPrimitives.ReadUInt32LittleEndian(data[(maskPos + 12)..]);
        }
        else if (bpp == 16)
        {
            rm = 0x7C00; gm = 0x03E0; bm = 0x001F; // BI_RGB 16-bit is 5-5-5
        }
        else if (bpp == 32)
        {
            rm = 0xFF0000; gm = 0xFF00; bm = 0xFF;
        }

        byte[]? pal = null; // RGB triples
        bool grayPal = false;
        if (bpp <= 8)
        {
            int maxColors = 1 << bpp;
            int n = colorsUsed == 0 || colorsUsed > maxColors ? maxColors : (int)colorsUsed;
            int entry = core ? 3 : 4;
            // Some writers give fewer entries than the depth implies; take what fits before the pixels.
            int avail = (int)Math.Min(n, (Math.Min(offBits, (uint)data.Length) - (long)paletteStart) / entry);
            if (avail <= 0) throw Fail("palette is missing");
            pal = new byte[maxColors * 3];
            grayPal = true;
            for (int i = 0; i < avail; i++)
            {
                int p = paletteStart + i * entry;
                pal[3 * i] = data[p + 2]; pal[3 * i + 1] = data[p + 1]; pal[3 * i + 2] = data[p];
                if (data[p] != data[p + 1] || data[p] != data[p + 2]) grayPal = false;
            }
        }

        long stride = ((long)width * bpp + 31) / 32 * 4;
        if (offBits < 14 + hdrSize || offBits + stride * height > data.Length) throw Fail("file is truncated (pixel data runs past the end)");
        bool alpha = am != 0;
        int oc = pal != null ? (grayPal ? 1 : 3) : alpha ? 4 : 3;
        var img = new Image(width, height, oc);
        var px = img.Pixels;
        var (rs, rmax) = MaskInfo(rm);
        var (gs, gmax) = MaskInfo(gm);
        var (bs, bmax) = MaskInfo(bm);
        var (asf, amax) = MaskInfo(am);
        for (int y = 0; y < height; y++)
        {
            int srcRow = topDown ? y : height - 1 - y;
            var row = data.Slice((int)(offBits + stride * srcRow), (int)stride);
            int o = y * width * oc;
            for (int x = 0; x < width; x++, o += oc)
            {
                if (pal != null)
                {
                    int idx = bpp switch
                    {
                        8 => row[x],
                        4 => (row[x >> 1] >> (4 - 4 * (x & 1))) & 15,
                        _ => (row[x >> 3] >> (7 - (x & 7))) & 1,
                    };
                    if (oc == 1) px[o] = pal[3 * idx];
                    else { px[o] = pal[3 * idx]; px[o + 1] = pal[3 * idx + 1]; px[o + 2] = pal[3 * idx + 2]; }
                }
                else if (bpp == 24)
                {
                    px[o] = row[3 * x + 2]; px[o + 1] = row[3 * x + 1]; px[o + 2] = row[3 * x];
                }
                else
                {
                    uint v = bpp == 16 ? BinaryPrimitives.ReadUInt16LittleEndian(row[(2 * x)..]) : BinaryPrimitives.ReadUInt32LittleEndian(row[(4 * x)..]);
                    px[o] = Field(v, rm, rs, rmax);
                    px[o + 1] = Field(v, gm, gs, gmax);
                    px[o + 2] = Field(v, bm, bs, bmax);
                    if (alpha) px[o + 3] = Field(v, am, asf, amax);
                }
            }
        }
        return img;
    }

    private static (int Shift, uint Max) MaskInfo(uint mask)
    {
        if (mask == 0) return (0, 0);
        int shift = BitOperations.TrailingZeroCount(mask);
        return (shift, mask >> shift);
    }

    private static byte Field(uint v, uint mask, int shift, uint max)
    {
        if (max == 0) return 0;
        uint f = (v & mask) >> shift;
        return max == 255 ? (byte)f : (byte)Math.Min(255, (ulong)f * 255 / max);
    }
}
