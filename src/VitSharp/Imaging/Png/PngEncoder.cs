using VitSharp.Checkpoints;
using System.Buffers.Binary;
using System.IO.Compression;

namespace VitSharp.Imaging.Png;

/// <summary>8-bit PNG writer (L, LA, RGB, RGBA) with libpng's per-row filter heuristic
/// (the filter whose output has the smallest sum of absolute signed bytes) and zlib deflate.</summary>
internal static class PngEncoder
{
    public static byte[] Encode(Image img, CompressionLevel level = CompressionLevel.Optimal)
    {
        int w = img.Width, h = img.Height, ch = img.Channels, stride = img.Stride;
        using var ms = new MemoryStream();
        ms.Write(PngDecoder.Signature);
        Span<byte> ihdr = stackalloc byte[13];
        BinaryPrimitives.WriteUInt32BigEndian(ihdr, (uint)w);
        BinaryPrimitives.WriteUInt32BigEndian(ihdr[4..], (uint)h);
        ihdr[8] = 8;
        ihdr[9] = ch switch { 1 => 0, 2 => 4, 3 => 2, _ => 6 };
        ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
        WriteChunk(ms, "IHDR"u8, ihdr);

        using var zbuf = new MemoryStream();
        using (var z = new ZLibStream(zbuf, level, leaveOpen: true))
        {
            var prev = new byte[stride];
            var cand = new byte[5][];
            for (int f = 0; f < 5; f++) cand[f] = new byte[stride + 1];
            for (int y = 0; y < h; y++)
            {
                var row = img.Pixels.AsSpan(y * stride, stride);
                int best = 0;
                long bestScore = long.MaxValue;
                for (int f = 0; f < 5; f++)
                {
                    var c = cand[f];
                    c[0] = (byte)f;
                    Filter(f, row, prev, c.AsSpan(1), ch);
                    long score = 0;
                    for (int i = 1; i <= stride; i++) { int v = (sbyte)c[i]; score += v < 0 ? -v : v; }
                    if (score < bestScore) { bestScore = score; best = f; }
                }
                z.Write(cand[best]);
                row.CopyTo(prev);
            }
        }
        WriteChunk(ms, "IDAT"u8, zbuf.GetBuffer().AsSpan(0, (int)zbuf.Length));
        WriteChunk(ms, "IEND"u8, []);
        return ms.ToArray();
    }

    private static void Filter(int f, ReadOnlySpan<byte> row, ReadOnlySpan<byte> prev, Span<byte> o, int bpp)
    {
        int n = row.Length;
        for (int i = 0; i < n; i++)
        {
            int a = i >= bpp ? row[i - bpp] : 0, b = prev[i], c = i >= bpp ? prev[i - bpp] : 0;
            int pred = f switch
            {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) >> 1,
                _ => Paeth(a, b, c),
            };
            o[i] = (byte)(row[i] - pred);
        }
    }

    private static int Paeth(int a, int b, int c)
    {
        int p = a + b - c;
        int pa = Math.Abs(p - a), pb = Math.Abs(p - b), pc = Math.Abs(p - c);
        return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
    }

    private static void WriteChunk(Stream s, ReadOnlySpan<byte> type, ReadOnlySpan<byte> body)
    {
        Span<byte> hdr = stackalloc byte[8];
        BinaryPrimitives.WriteUInt32BigEndian(hdr, (uint)body.Length);
        type.CopyTo(hdr[4..]);
        s.Write(hdr);
        s.Write(body);
        uint crc = Crc32.Update(Crc32.Compute(type), body);
        Span<byte> c = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(c, crc);
        s.Write(c);
    }
}
