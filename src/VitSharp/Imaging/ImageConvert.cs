namespace VitSharp.Imaging;

/// <summary>Channel conversions with PIL's <c>Image.convert</c> semantics.</summary>
public static class ImageConvert
{
    /// <summary>PIL <c>convert('RGB')</c>: gray replicated, alpha dropped (not composited, as PIL does).
    /// Returns <paramref name="src"/> itself when it is already RGB.</summary>
    public static Image ToRgb(Image src)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (src.Channels == 3) return src;
        var dst = new Image(src.Width, src.Height, 3);
        byte[] s = src.Pixels, d = dst.Pixels;
        int n = src.Width * src.Height, c = src.Channels;
        switch (c)
        {
            case 1:
                for (int i = 0; i < n; i++) { byte v = s[i]; d[3 * i] = v; d[3 * i + 1] = v; d[3 * i + 2] = v; }
                break;
            case 2:
                for (int i = 0; i < n; i++) { byte v = s[2 * i]; d[3 * i] = v; d[3 * i + 1] = v; d[3 * i + 2] = v; }
                break;
            default:
                for (int i = 0; i < n; i++) { d[3 * i] = s[4 * i]; d[3 * i + 1] = s[4 * i + 1]; d[3 * i + 2] = s[4 * i + 2]; }
                break;
        }
        return dst;
    }

    /// <summary>PIL <c>convert('L')</c>: ITU-R 601-2 luma L = (19595 R + 38470 G + 7471 B + 0x8000) &gt;&gt; 16,
    /// alpha dropped. Returns <paramref name="src"/> itself when it is already L.</summary>
    public static Image ToGray(Image src)
    {
        ArgumentNullException.ThrowIfNull(src);
        if (src.Channels == 1) return src;
        var dst = new Image(src.Width, src.Height, 1);
        byte[] s = src.Pixels, d = dst.Pixels;
        int n = src.Width * src.Height, c = src.Channels;
        if (c == 2)
        {
            for (int i = 0; i < n; i++) d[i] = s[2 * i];
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                int p = i * c;
                d[i] = (byte)((s[p] * 19595 + s[p + 1] * 38470 + s[p + 2] * 7471 + 0x8000) >> 16);
            }
        }
        return dst;
    }
}
