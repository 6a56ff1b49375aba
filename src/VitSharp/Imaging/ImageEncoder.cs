using System.Text;
using VitSharp.Imaging.Png;

namespace VitSharp.Imaging;

/// <summary>Writers: PNG (8-bit L/LA/RGB/RGBA), binary PPM/PGM and 24/32-bit BMP.</summary>
public static class ImageEncoder
{
    public static byte[] EncodePng(Image img)
    {
        ArgumentNullException.ThrowIfNull(img);
        return PngEncoder.Encode(img);
    }

    public static void SavePng(Image img, string path) => WriteFile(path, EncodePng(img));

    /// <summary>Binary PGM (P5) for L, PPM (P6) for RGB; alpha is dropped (LA → P5, RGBA → P6).</summary>
    public static byte[] EncodePnm(Image img)
    {
        ArgumentNullException.ThrowIfNull(img);
        bool gray = img.Channels <= 2;
        var src = gray ? ImageConvert.ToGray(img) : ImageConvert.ToRgb(img);
        var header = Encoding.ASCII.GetBytes($"{(gray ? "P5" : "P6")}\n{img.Width} {img.Height}\n255\n");
        var o = new byte[header.Length + src.Pixels.Length];
        header.CopyTo(o, 0);
        src.Pixels.CopyTo(o, header.Length);
        return o;
    }

    public static void SavePnm(Image img, string path) => WriteFile(path, EncodePnm(img));

    /// <summary>Bottom-up BI_RGB BMP: 24-bit for L/RGB, 32-bit BGRA (BITFIELDS with an alpha mask) for LA/RGBA.</summary>
    public static byte[] EncodeBmp(Image img)
    {
        ArgumentNullException.ThrowIfNull(img);
        bool alpha = img.Channels is 2 or 4;
        int bpp = alpha ? 32 : 24;
        int w = img.Width, h = img.Height, c = img.Channels;
        int stride = (w * bpp / 8 + 3) & ~3;
        int headerSize = alpha ? 108 : 40;
        int off = 14 + headerSize;
        var o = new byte[off + (long)stride * h];
        var s = o.AsSpan();
        s[0] = (byte)'B'; s[1] = (byte)'M';
        BitConverter.TryWriteBytes(s[2..], o.Length);
        BitConverter.TryWriteBytes(s[10..], off);
        BitConverter.TryWriteBytes(s[14..], headerSize);
        BitConverter.TryWriteBytes(s[18..], w);
        BitConverter.TryWriteBytes(s[22..], h);
        BitConverter.TryWriteBytes(s[26..], (short)1);
        BitConverter.TryWriteBytes(s[28..], (short)bpp);
        BitConverter.TryWriteBytes(s[30..], alpha ? 3 : 0);
        BitConverter.TryWriteBytes(s[34..], stride * h);
        if (alpha)
        {
            BitConverter.TryWriteBytes(s[54..], 0x00FF0000u);
            BitConverter.TryWriteBytes(s[58..], 0x0000FF00u);
            BitConverter.TryWriteBytes(s[62..], 0x000000FFu);
            BitConverter.TryWriteBytes(s[66..], 0xFF000000u);
            BitConverter.TryWriteBytes(s[70..], 0x73524742u); // 'sRGB'
        }
        var px = img.Pixels;
        for (int y = 0; y < h; y++)
        {
            int d = off + (h - 1 - y) * stride;
            for (int x = 0; x < w; x++)
            {
                int p = (y * w + x) * c;
                byte r, g, b, a = 255;
                if (c <= 2) { r = g = b = px[p]; if (c == 2) a = px[p + 1]; }
                else { r = px[p]; g = px[p + 1]; b = px[p + 2]; if (c == 4) a = px[p + 3]; }
                o[d++] = b; o[d++] = g; o[d++] = r;
                if (alpha) o[d++] = a;
            }
        }
        return o;
    }

    public static void SaveBmp(Image img, string path) => WriteFile(path, EncodeBmp(img));

    private static void WriteFile(string path, byte[] bytes)
    {
        try
        {
            File.WriteAllBytes(path, bytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new VitException($"{path}: cannot write image: {e.Message}", e);
        }
    }
}
