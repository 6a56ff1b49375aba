using VitSharp.Checkpoints;
using System.Buffers.Binary;
using System.IO.Compression;

namespace VitSharp.Imaging.Png;

/// <summary>
/// PNG decoder: every colour type and bit depth, PLTE/tRNS, Adam7, all five filters, CRC-checked chunks,
/// any number of IDAT chunks. Output follows PIL's modes: L, LA, RGB, RGBA (palette → RGB, or RGBA when
/// tRNS is present; gray/RGB with a tRNS key → LA/RGBA). 16-bit samples keep their high byte.
/// </summary>
internal static class PngDecoder
{
    public static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    private static readonly (int X0, int Y0, int Dx, int Dy)[] Adam7 =
        [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)];

    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt)
    {
        InvalidImageException Fail(string what) => new(name, "PNG: " + what);
        if (data.Length < 8 || !data[..8].SequenceEqual(Signature)) throw Fail("bad signature");
        int pos = 8;
        int width = 0, height = 0, depth = 0, colorType = -1, interlace = 0;
        byte[]? palette = null;      // RGB triples
        byte[]? paletteAlpha = null; // per entry
        int[]? key = null;           // gray or RGB transparency key (raw sample values)
        var idat = new List<(int Off, int Len)>();
        long idatTotal = 0;
        bool seenIend = false, seenIhdr = false;
        while (pos < data.Length)
        {
            if (pos + 8 > data.Length) throw Fail("file is truncated in a chunk header");
            uint len = BinaryPrimitives.ReadUInt32BigEndian(data[pos..]);
            if (len > int.MaxValue || pos + 12L + len > data.Length) throw Fail("file is truncated (chunk runs past the end)");
            var type = data.Slice(pos + 4, 4);
            var body = data.Slice(pos + 8, (int)len);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(data[(pos + 8 + (int)len)..]);
            string tname = System.Text.Encoding.ASCII.GetString(type);
            if (Crc32.Compute(data.Slice(pos + 4, 4 + (int)len)) != crc) throw Fail($"CRC error in chunk '{Sanitize(tname)}'");
            pos += 12 + (int)len;
            if (!seenIhdr && tname != "IHDR") throw Fail("first chunk is not IHDR");
            switch (tname)
            {
                case "IHDR":
                    if (seenIhdr) throw Fail("duplicate IHDR");
                    if (len != 13) throw Fail($"IHDR length {len}, expected 13");
                    seenIhdr = true;
                    uint w = BinaryPrimitives.ReadUInt32BigEndian(body), h = BinaryPrimitives.ReadUInt32BigEndian(body[4..]);
                    depth = body[8];
                    colorType = body[9];
                    if (body[10] != 0 || body[11] != 0) throw Fail("unknown compression or filter method");
                    interlace = body[12];
                    if (interlace > 1) throw Fail($"unknown interlace method {interlace}");
                    bool ok = colorType switch
                    {
                        0 => depth is 1 or 2 or 4 or 8 or 16,
                        3 => depth is 1 or 2 or 4 or 8,
                        2 or 4 or 6 => depth is 8 or 16,
                        _ => false,
                    };
                    if (!ok) throw Fail($"invalid colour type {colorType} with bit depth {depth}");
                    ImageFormatUtil.CheckSize(name, "PNG", w, h, opt);
                    width = (int)w;
                    height = (int)h;
                    break;
                case "PLTE":
                    if (len % 3 != 0 || len == 0 || len > 768) throw Fail($"PLTE length {len} is invalid");
                    palette = body.ToArray();
                    break;
                case "tRNS":
                    if (colorType == 3)
                    {
                        paletteAlpha = new byte[256];
                        paletteAlpha.AsSpan().Fill(255);
                        body[..Math.Min(body.Length, 256)].CopyTo(paletteAlpha);
                    }
                    else if (colorType == 0 && len >= 2) key = [BinaryPrimitives.ReadUInt16BigEndian(body)];
                    else if (colorType == 2 && len >= 6)
                        key = [BinaryPrimitives.ReadUInt16BigEndian(body), BinaryPrimitives.ReadUInt16BigEndian(body[2..]), BinaryPrimitives.ReadUInt16BigEndian(body[4..])];
                    break;
                case "IDAT":
                    idat.Add((pos - 4 - (int)len, (int)len));
                    idatTotal += len;
                    break;
                case "IEND":
                    seenIend = true;
                    break;
            }
            if (seenIend) break;
        }
        if (!seenIhdr) throw Fail("no IHDR chunk");
        if (idat.Count == 0) throw Fail(seenIend ? "no image data (IDAT)" : "file is truncated before the image data");
        if (colorType == 3 && palette == null) throw Fail("palette image without a PLTE chunk");

        int channelsIn = colorType switch { 0 => 1, 2 => 3, 3 => 1, 4 => 2, _ => 4 };
        int bitsPP = channelsIn * depth;
        int bpp = Math.Max(1, bitsPP / 8);

        long rawTotal = 0;
        var passes = interlace == 1 ? Adam7 : [(0, 0, 1, 1)];
        foreach (var (x0, y0, dx, dy) in passes)
        {
            long pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0) continue;
            rawTotal += ph * (1 + (pw * bitsPP + 7) / 8);
        }
        if (rawTotal > int.MaxValue) throw Fail("image too large");

        // Deflate cannot expand more than ~1032:1; a larger claim means truncated or forged data, refused
        // before the output buffer for the declared size is allocated.
        if (rawTotal > idatTotal * 1032 + 1024) throw Fail($"image data is truncated ({idatTotal} compressed bytes cannot hold {width}x{height})");
        var compressed = new byte[idatTotal];
        int cp = 0;
        foreach (var (off, l) in idat)
        {
            data.Slice(off, l).CopyTo(compressed.AsSpan(cp));
            cp += l;
        }
        var raw = new byte[rawTotal];
        try
        {
            using var zs = new ZLibStream(new MemoryStream(compressed), CompressionMode.Decompress);
            int got = zs.ReadAtLeast(raw, raw.Length, throwOnEndOfStream: false);
            if (got < raw.Length) throw Fail($"image data is truncated ({got} of {raw.Length} bytes)");
        }
        catch (InvalidDataException e)
        {
            throw new InvalidImageException(name, $"PNG: corrupt compressed image data ({e.Message})", e);
        }

        bool hasAlphaOut = colorType is 4 or 6 || key != null || (colorType == 3 && paletteAlpha != null);
        int outC = colorType switch
        {
            0 => hasAlphaOut ? 2 : 1,
            4 => 2,
            _ => hasAlphaOut ? 4 : 3,
        };
        var img = new Image(width, height, outC);
        int rp = 0;
        byte[] prev = [];
        foreach (var (x0, y0, dx, dy) in passes)
        {
            int pw = (width - x0 + dx - 1) / dx, ph = (height - y0 + dy - 1) / dy;
            if (pw <= 0 || ph <= 0) continue;
            int rowBytes = (int)(((long)pw * bitsPP + 7) / 8);
            if (prev.Length < rowBytes) prev = new byte[rowBytes];
            Array.Clear(prev, 0, rowBytes);
            for (int r = 0; r < ph; r++)
            {
                int ft = raw[rp];
                var row = raw.AsSpan(rp + 1, rowBytes);
                if (ft > 4) throw Fail($"unknown filter type {ft} in row {r}");
                Unfilter(ft, row, prev.AsSpan(0, rowBytes), bpp);
                row.CopyTo(prev);
                if (dx == 1 && depth == 8 && channelsIn == outC && colorType != 3)
                    row.CopyTo(img.Pixels.AsSpan((y0 + r * dy) * img.Stride)); // samples are already the output layout
                else
                    EmitRow(img, row, y0 + r * dy, x0, dx, pw, colorType, depth, palette, paletteAlpha, key);
                rp += 1 + rowBytes;
            }
        }
        return img;
    }

    private static string Sanitize(string s) => new(s.Select(ch => ch is >= ' ' and < (char)127 ? ch : '?').ToArray());

    internal static void Unfilter(int ft, Span<byte> row, ReadOnlySpan<byte> prev, int bpp)
    {
        int n = row.Length;
        switch (ft)
        {
            case 0: break;
            case 1:
                for (int i = bpp; i < n; i++) row[i] += row[i - bpp];
                break;
            case 2:
                for (int i = 0; i < n; i++) row[i] += prev[i];
                break;
            case 3:
                for (int i = 0; i < bpp && i < n; i++) row[i] += (byte)(prev[i] >> 1);
                for (int i = bpp; i < n; i++) row[i] += (byte)((row[i - bpp] + prev[i]) >> 1);
                break;
            case 4:
                for (int i = 0; i < bpp && i < n; i++) row[i] += prev[i];
                for (int i = bpp; i < n; i++)
                {
                    int a = row[i - bpp], b = prev[i], c = prev[i - bpp];
                    int p = a + b - c;
                    int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
                    row[i] += (byte)(pa <= pb && pa <= pc ? a : pb <= pc ? b : c);
                }
                break;
        }
    }

    private static void EmitRow(Image img, ReadOnlySpan<byte> row, int y, int x0, int dx, int count, int colorType, int depth,
        byte[]? palette, byte[]? paletteAlpha, int[]? key)
    {
        int oc = img.Channels;
        var dst = img.Pixels.AsSpan(y * img.Stride);
        int palEntries = palette == null ? 0 : palette.Length / 3;
        for (int i = 0; i < count; i++)
        {
            int o = (x0 + i * dx) * oc;
            switch (colorType)
            {
                case 0:
                    {
                        int v = Sample(row, i, depth);
                        dst[o] = ScaleTo8(v, depth);
                        if (oc == 2) dst[o + 1] = key != null && v == key[0] ? (byte)0 : (byte)255;
                        break;
                    }
                case 3:
                    {
                        int idx = Sample(row, i, depth);
                        // Indices past the palette read as black, like PIL's zero-padded palette.
                        if (idx < palEntries)
                        {
                            dst[o] = palette![3 * idx];
                            dst[o + 1] = palette[3 * idx + 1];
                            dst[o + 2] = palette[3 * idx + 2];
                        }
                        else { dst[o] = 0; dst[o + 1] = 0; dst[o + 2] = 0; }
                        if (oc == 4) dst[o + 3] = paletteAlpha![idx];
                        break;
                    }
                case 2:
                    if (depth == 8)
                    {
                        int s = 3 * i;
                        dst[o] = row[s]; dst[o + 1] = row[s + 1]; dst[o + 2] = row[s + 2];
                        if (oc == 4) dst[o + 3] = key != null && row[s] == key[0] && row[s + 1] == key[1] && row[s + 2] == key[2] ? (byte)0 : (byte)255;
                    }
                    else
                    {
                        int s = 6 * i;
                        dst[o] = row[s]; dst[o + 1] = row[s + 2]; dst[o + 2] = row[s + 4];
                        if (oc == 4)
                        {
                            int r = (row[s] << 8) | row[s + 1], g = (row[s + 2] << 8) | row[s + 3], b = (row[s + 4] << 8) | row[s + 5];
                            dst[o + 3] = key != null && r == key[0] && g == key[1] && b == key[2] ? (byte)0 : (byte)255;
                        }
                    }
                    break;
                case 4:
                    if (depth == 8) { dst[o] = row[2 * i]; dst[o + 1] = row[2 * i + 1]; }
                    else { dst[o] = row[4 * i]; dst[o + 1] = row[4 * i + 2]; }
                    break;
                default:
                    if (depth == 8) { int s = 4 * i; dst[o] = row[s]; dst[o + 1] = row[s + 1]; dst[o + 2] = row[s + 2]; dst[o + 3] = row[s + 3]; }
                    else { int s = 8 * i; dst[o] = row[s]; dst[o + 1] = row[s + 2]; dst[o + 2] = row[s + 4]; dst[o + 3] = row[s + 6]; }
                    break;
            }
        }
    }

    private static int Sample(ReadOnlySpan<byte> row, int i, int depth) => depth switch
    {
        8 => row[i],
        16 => (row[2 * i] << 8) | row[2 * i + 1],
        4 => (row[i >> 1] >> (4 - 4 * (i & 1))) & 15,
        2 => (row[i >> 2] >> (6 - 2 * (i & 3))) & 3,
        _ => (row[i >> 3] >> (7 - (i & 7))) & 1,
    };

    private static byte ScaleTo8(int v, int depth) => depth switch
    {
        8 => (byte)v,
        16 => (byte)(v >> 8),
        4 => (byte)(v * 17),
        2 => (byte)(v * 85),
        _ => (byte)(v * 255),
    };
}
