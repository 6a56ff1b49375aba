namespace VitSharp.Imaging;

/// <summary>
/// Netpbm decoder: P1/P4 (bitmap → L 0/255), P2/P5 (gray → L), P3/P6 (RGB), maxval 1..65535.
/// Samples are scaled like PIL: round(v / maxval × 255) with round-half-even, values above maxval clamp.
/// </summary>
internal static class PnmDecoder
{
    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt)
    {
        InvalidImageException Fail(string what) => new(name, "PNM: " + what);
        int kind = data[1] - '0';
        int pos = 2;
        long w = ReadNumber(data, ref pos, name), h = ReadNumber(data, ref pos, name);
        long maxval = kind is 1 or 4 ? 1 : ReadNumber(data, ref pos, name);
        if (maxval is < 1 or > 65535) throw Fail($"maxval {maxval} out of range 1..65535");
        ImageFormatUtil.CheckSize(name, "PNM", w, h, opt);
        int width = (int)w, height = (int)h;
        int ch = kind is 3 or 6 ? 3 : 1;
        // Plain formats need at least one byte per sample, P4 one bit per pixel: check before allocating.
        long minBytes = kind == 4 ? (w + 7) / 8 * h : w * h * ch;
        if (data.Length - pos < minBytes) throw Fail("file is truncated in the pixel data");
        var img = new Image(width, height, ch);
        var px = img.Pixels;
        int n = px.Length;
        var lut = new byte[maxval + 1];
        for (int v = 0; v <= maxval; v++)
            lut[v] = kind is 1 or 4 ? (byte)(v == 0 ? 255 : 0) : (byte)Math.Min(255, Math.Round((double)v / maxval * 255, MidpointRounding.ToEven));
        if (kind >= 4)
        {
            // Exactly one whitespace byte separates the header from binary data.
            if (pos >= data.Length || !IsSpace(data[pos])) throw Fail("file is truncated after the header");
            pos++;
            if (kind == 4)
            {
                int rowBytes = (width + 7) / 8;
                if (pos + (long)rowBytes * height > data.Length) throw Fail("file is truncated in the pixel data");
                for (int y = 0; y < height; y++)
                    for (int x = 0; x < width; x++)
                        px[y * width + x] = lut[(data[pos + y * rowBytes + (x >> 3)] >> (7 - (x & 7))) & 1];
            }
            else
            {
                int bytesPer = maxval < 256 ? 1 : 2;
                if (pos + (long)n * bytesPer > data.Length) throw Fail("file is truncated in the pixel data");
                if (bytesPer == 1)
                    for (int i = 0; i < n; i++) px[i] = data[pos + i] > maxval ? (byte)255 : lut[data[pos + i]];
                else
                    for (int i = 0; i < n; i++)
                    {
                        int v = (data[pos + 2 * i] << 8) | data[pos + 2 * i + 1];
                        px[i] = v > maxval ? (byte)255 : lut[v];
                    }
            }
        }
        else
        {
            for (int i = 0; i < n; i++)
            {
                long v;
                if (kind == 1)
                {
                    SkipSpace(data, ref pos);
                    if (pos >= data.Length) throw Fail("file is truncated in the pixel data");
                    if (data[pos] is not ((byte)'0' or (byte)'1')) throw Fail($"invalid bitmap value '{(char)data[pos]}'");
                    v = data[pos++] - '0';
                }
                else v = ReadNumber(data, ref pos, name);
                if (v > maxval) throw Fail($"sample value {v} is above maxval {maxval}");
                px[i] = lut[v];
            }
        }
        return img;
    }

    private static bool IsSpace(byte b) => b is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or 0x0B or 0x0C;

    private static void SkipSpace(ReadOnlySpan<byte> d, ref int pos)
    {
        while (pos < d.Length)
        {
            if (IsSpace(d[pos])) pos++;
            else if (d[pos] == '#') { while (pos < d.Length && d[pos] != '\n' && d[pos] != '\r') pos++; }
            else break;
        }
    }

    private static long ReadNumber(ReadOnlySpan<byte> d, ref int pos, string? name)
    {
        SkipSpace(d, ref pos);
        if (pos >= d.Length) throw new InvalidImageException(name, "PNM: file is truncated");
        if (d[pos] is < (byte)'0' or > (byte)'9') throw new InvalidImageException(name, $"PNM: expected a number, found '{(char)d[pos]}'");
        long v = 0;
        while (pos < d.Length && d[pos] is >= (byte)'0' and <= (byte)'9')
        {
            v = v * 10 + (d[pos++] - '0');
            if (v > int.MaxValue) throw new InvalidImageException(name, "PNM: number in the file is too large");
        }
        return v;
    }
}
