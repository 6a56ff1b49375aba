namespace VitSharp.Imaging.Jpeg;

/// <summary>
/// A decoding table built from a DHT segment the way libjpeg's jpeg_make_d_derived_tbl does:
/// a 9-bit lookahead table for the common short codes and maxcode/valoffset for the rest.
/// </summary>
internal sealed class JpegHuffmanTable
{
    public const int LookBits = 9;

    /// <summary>(length &lt;&lt; 8) | symbol for codes of at most <see cref="LookBits"/> bits, 0 when longer.</summary>
    public readonly ushort[] Lookup = new ushort[1 << LookBits];
    public readonly int[] MaxCode = new int[18];
    public readonly int[] ValOffset = new int[18];
    public readonly byte[] Values = new byte[256];

    /// <summary>For AC tables: codes whose length plus value bits fit in <see cref="LookBits"/>, pre-decoded as
    /// (value &lt;&lt; 16) | (run &lt;&lt; 4) | total bits; 0 when the slow path is needed.</summary>
    public readonly int[] FastAc = new int[1 << LookBits];

    /// <summary>Builds the table; returns an error text for a table whose codes overflow the code space.</summary>
    public static JpegHuffmanTable Build(ReadOnlySpan<byte> counts, ReadOnlySpan<byte> values, out string? error)
    {
        var t = new JpegHuffmanTable();
        error = null;
        values.CopyTo(t.Values);
        Span<byte> sizes = stackalloc byte[257];
        Span<int> codes = stackalloc int[257];
        int p = 0;
        for (int l = 1; l <= 16; l++)
            for (int i = 0; i < counts[l - 1]; i++) sizes[p++] = (byte)l;
        sizes[p] = 0;
        int n = p;
        int code = 0, si = sizes[0];
        p = 0;
        while (sizes[p] != 0)
        {
            while (sizes[p] == si) { codes[p++] = code++; }
            // A code that reaches 1 << si overflows the code space (libjpeg: "Bogus Huffman table definition").
            if (code >= 1 << si) { error = "bad Huffman table (codes overflow their length)"; return t; }
            code <<= 1;
            si++;
        }
        p = 0;
        for (int l = 1; l <= 16; l++)
        {
            int c = counts[l - 1];
            if (c != 0)
            {
                t.ValOffset[l] = p - codes[p];
                p += c;
                t.MaxCode[l] = codes[p - 1];
            }
            else t.MaxCode[l] = -1;
        }
        t.MaxCode[17] = int.MaxValue;
        p = 0;
        for (int l = 1; l <= LookBits; l++)
        {
            for (int i = 0; i < counts[l - 1]; i++, p++)
            {
                int look = codes[p] << (LookBits - l);
                for (int ctr = 1 << (LookBits - l); ctr > 0; ctr--)
                    t.Lookup[look++] = (ushort)((l << 8) | values[p]);
            }
        }
        _ = n;
        for (int look = 0; look < 1 << LookBits; look++)
        {
            int e = t.Lookup[look];
            if (e == 0) continue;
            int l = e >> 8, rs = e & 0xFF, r = rs >> 4, sz = rs & 15;
            if (sz == 0 || l + sz > LookBits) continue;
            int bits = (look >> (LookBits - l - sz)) & ((1 << sz) - 1);
            int v = bits < (1 << (sz - 1)) ? bits - (1 << sz) + 1 : bits;
            t.FastAc[look] = (v << 16) | (r << 4) | (l + sz);
        }
        return t;
    }
}
