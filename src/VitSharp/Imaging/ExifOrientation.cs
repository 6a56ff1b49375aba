namespace VitSharp.Imaging;

/// <summary>The EXIF orientation tag (0x0112) and the transposes PIL's ImageOps.exif_transpose applies for it.</summary>
internal static class ExifOrientation
{
    /// <summary>Reads the orientation from a TIFF-structured EXIF block; 1 when absent or malformed.</summary>
    public static int Parse(ReadOnlySpan<byte> tiff)
    {
        if (tiff.Length < 8) return 1;
        bool le;
        if (tiff[0] == 'I' && tiff[1] == 'I') le = true;
        else if (tiff[0] == 'M' && tiff[1] == 'M') le = false;
        else return 1;
        if (U16(tiff, le, 2) != 42) return 1;
        long ifd = U32(tiff, le, 4);
        if (ifd < 8 || ifd + 2 > tiff.Length) return 1;
        int count = U16(tiff, le, (int)ifd);
        for (int i = 0; i < count; i++)
        {
            long e = ifd + 2 + 12L * i;
            if (e + 12 > tiff.Length) return 1;
            int p = (int)e;
            if (U16(tiff, le, p) != 0x0112) continue;
            int type = U16(tiff, le, p + 2);
            int v = type == 3 ? U16(tiff, le, p + 8) : type == 4 ? (int)Math.Min(U32(tiff, le, p + 8), 100) : 1;
            return v is >= 1 and <= 8 ? v : 1;
        }
        return 1;
    }

    private static int U16(ReadOnlySpan<byte> t, bool le, int p) => le ? t[p] | (t[p + 1] << 8) : (t[p] << 8) | t[p + 1];

    private static long U32(ReadOnlySpan<byte> t, bool le, int p) => le
        ? (uint)(t[p] | (t[p + 1] << 8) | (t[p + 2] << 16) | (t[p + 3] << 24))
        : (uint)((t[p] << 24) | (t[p + 1] << 16) | (t[p + 2] << 8) | t[p + 3]);

    /// <summary>Returns the image transposed for orientation 2..8 (Image.transpose semantics of PIL).</summary>
    public static Image Apply(Image src, int orientation)
    {
        int w = src.Width, h = src.Height, ch = src.Channels;
        bool swap = orientation >= 5;
        int ow = swap ? h : w, oh = swap ? w : h;
        var dst = new Image(ow, oh, ch);
        byte[] s = src.Pixels, d = dst.Pixels;
        int di = 0;
        for (int y = 0; y < oh; y++)
        {
            for (int x = 0; x < ow; x++)
            {
                (int sx, int sy) = orientation switch
                {
                    2 => (w - 1 - x, y),
                    3 => (w - 1 - x, h - 1 - y),
                    4 => (x, h - 1 - y),
                    5 => (y, x),
                    6 => (y, h - 1 - x),
                    7 => (w - 1 - y, h - 1 - x),
                    8 => (w - 1 - y, x),
                    _ => (x, y),
                };
                int si = (sy * w + sx) * ch;
                for (int c = 0; c < ch; c++) d[di++] = s[si + c];
            }
        }
        return dst;
    }
}
