using System.Buffers.Binary;
using System.Globalization;
using System.Text;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>
/// NumPy .npy files: versions 1.0/2.0/3.0, any header key order and spacing, both byte orders, Fortran order,
/// scalars and zero-size arrays. Object and structured dtypes (pickles) are refused.
/// </summary>
public static class Npy
{
    private static readonly byte[] Magic = [0x93, (byte)'N', (byte)'U', (byte)'M', (byte)'P', (byte)'Y'];

    /// <summary>numpy refuses headers longer than this; so do we (no huge allocation from a corrupt length).</summary>
    public const int MaxHeaderLength = 100_000;

    public static bool HasMagic(ReadOnlySpan<byte> head) => head.Length >= 6 && head[..6].SequenceEqual(Magic);

    public static RawArray Read(string path)
    {
        using var fs = File.OpenRead(path);
        return Read(fs, fs.Length, path);
    }

    /// <summary>Reads one array from <paramref name="s"/>, which holds at most <paramref name="available"/> bytes.</summary>
    public static RawArray Read(Stream s, long available, string? where)
    {
        Span<byte> pre = stackalloc byte[12];
        ReadFull(s, pre[..10], where, "npy preamble");
        if (!HasMagic(pre)) throw new CheckpointException(where, "not a .npy array (bad magic)");
        byte major = pre[6], minor = pre[7];
        long headerLen;
        int preLen;
        if (major == 1 && minor == 0) { headerLen = BinaryPrimitives.ReadUInt16LittleEndian(pre[8..]); preLen = 10; }
        else if ((major == 2 || major == 3) && minor == 0)
        {
            ReadFull(s, pre[10..12], where, "npy preamble");
            headerLen = BinaryPrimitives.ReadUInt32LittleEndian(pre[8..]);
            preLen = 12;
        }
        else throw new CheckpointException(where, $"unsupported .npy format version {major}.{minor}");
        if (headerLen > MaxHeaderLength || headerLen > available - preLen)
            throw new CheckpointException(where, $"npy header length {headerLen} is invalid (file holds {available} bytes)");
        var hb = new byte[headerLen];
        ReadFull(s, hb, where, "npy header");
        string header = major == 3 ? Encoding.UTF8.GetString(hb) : Encoding.Latin1.GetString(hb);
        var (dtype, bigEndian, fortran, shape) = ParseHeader(header, where);
        long numel = RawArray.NumelOf(shape);
        long bytes = numel * dtype.ItemSize();
        if (bytes > available - preLen - headerLen)
            throw new CheckpointException(where, $"npy data truncated: shape {Tensor.ShapeToString(shape)} needs {bytes} bytes, {available - preLen - headerLen} present");
        if (bytes > Array.MaxLength) throw new CheckpointException(where, $"array {Tensor.ShapeToString(shape)} is too large");
        var data = new byte[bytes];
        ReadFull(s, data, where, "npy data");
        if (bigEndian) DTypes.SwapBytes(data, dtype.ItemSize());
        if (fortran && shape.Length > 1) data = FortranToC(data, shape, dtype.ItemSize());
        return new RawArray(dtype, shape, data);
    }

    internal static void ReadFull(Stream s, Span<byte> buf, string? where, string what)
    {
        int got = 0;
        while (got < buf.Length)
        {
            int n = s.Read(buf[got..]);
            if (n <= 0) throw new CheckpointException(where, $"unexpected end of data reading {what} ({got} of {buf.Length} bytes)");
            got += n;
        }
    }

    /// <summary>Fortran (column-major) bytes of <paramref name="shape"/> → C order.</summary>
    private static byte[] FortranToC(byte[] src, int[] shape, int item)
    {
        int rank = shape.Length;
        long numel = RawArray.NumelOf(shape);
        var dst = new byte[src.Length];
        if (numel == 0) return dst;
        // Fortran strides (in elements): stride[0] = 1, stride[i] = stride[i-1]*shape[i-1].
        var fs = new long[rank];
        fs[0] = 1;
        for (int i = 1; i < rank; i++) fs[i] = fs[i - 1] * shape[i - 1];
        var idx = new int[rank];
        for (long c = 0; c < numel; c++)
        {
            long f = 0;
            for (int i = 0; i < rank; i++) f += idx[i] * fs[i];
            Buffer.BlockCopy(src, (int)(f * item), dst, (int)(c * item), item);
            for (int i = rank - 1; i >= 0; i--)
            {
                if (++idx[i] < shape[i]) break;
                idx[i] = 0;
            }
        }
        return dst;
    }

    internal static (DType dtype, bool bigEndian, bool fortran, int[] shape) ParseHeader(string h, string? where)
    {
        var p = new HeaderParser(h, where);
        string? descr = null;
        bool? fortran = null;
        int[]? shape = null;
        p.Skip();
        p.Expect('{');
        while (true)
        {
            p.Skip();
            if (p.Peek() == '}') break;
            string key = p.ReadString();
            p.Skip();
            p.Expect(':');
            p.Skip();
            switch (key)
            {
                case "descr":
                    if (p.Peek() != '\'' && p.Peek() != '"')
                        throw new CheckpointException(where, "structured npy dtypes are not supported (only plain numeric arrays)");
                    descr = p.ReadString();
                    break;
                case "fortran_order": fortran = p.ReadBool(); break;
                case "shape": shape = p.ReadShape(); break;
                default: throw new CheckpointException(where, $"unexpected key '{key}' in npy header");
            }
            p.Skip();
            if (p.Peek() == ',') { p.Pos++; continue; }
            p.Skip();
            if (p.Peek() == '}') break;
            throw new CheckpointException(where, $"malformed npy header near offset {p.Pos}: {Short(h)}");
        }
        if (descr == null || fortran == null || shape == null)
            throw new CheckpointException(where, $"npy header lacks descr/fortran_order/shape: {Short(h)}");
        var (dt, big) = ParseDescr(descr, where);
        return (dt, big, fortran.Value, shape);
    }

    private static string Short(string h) => h.Length > 120 ? h[..120] + "..." : h.TrimEnd();

    private static (DType, bool) ParseDescr(string d, string? where)
    {
        if (d.Length < 2) throw new CheckpointException(where, $"bad npy dtype '{d}'");
        char order = d[0];
        string rest = d[1..];
        if (order is not ('<' or '>' or '|' or '='))
        {
            order = '=';
            rest = d;
        }
        DType? t = rest switch
        {
            "f4" => DType.F32,
            "f2" => DType.F16,
            "f8" => DType.F64,
            "i8" => DType.I64,
            "i4" => DType.I32,
            "i2" => DType.I16,
            "i1" => DType.I8,
            "u8" => DType.U64,
            "u4" => DType.U32,
            "u2" => DType.U16,
            "u1" => DType.U8,
            "b1" => DType.Bool,
            _ => null,
        };
        if (t == null)
        {
            if (rest.StartsWith('O')) throw new CheckpointException(where, $"npy object arrays ('{d}') are pickles and are refused");
            // big_vision saves ml_dtypes bfloat16 weights, which numpy records as a 2-byte void ('|V2');
            // no other 2-byte void type occurs in checkpoints, so read it as bfloat16 (timm's load_bfloat16 does the same).
            if (rest == "V2") t = DType.BF16;
            else throw new CheckpointException(where, $"unsupported npy dtype '{d}'");
        }
        return (t.Value, order == '>' || (order == '=' && !BitConverter.IsLittleEndian));
    }

    private sealed class HeaderParser(string s, string? where)
    {
        public int Pos;

        public char Peek() => Pos < s.Length ? s[Pos] : '\0';

        public void Skip()
        {
            while (Pos < s.Length && char.IsWhiteSpace(s[Pos])) Pos++;
        }

        public void Expect(char c)
        {
            if (Peek() != c) throw new CheckpointException(where, $"malformed npy header: expected '{c}' at offset {Pos}");
            Pos++;
        }

        public string ReadString()
        {
            char q = Peek();
            if (q != '\'' && q != '"') throw new CheckpointException(where, $"malformed npy header: expected a string at offset {Pos}");
            int end = s.IndexOf(q, Pos + 1);
            if (end < 0) throw new CheckpointException(where, "malformed npy header: unterminated string");
            var r = s[(Pos + 1)..end];
            Pos = end + 1;
            return r;
        }

        public bool ReadBool()
        {
            if (string.CompareOrdinal(s, Pos, "True", 0, 4) == 0) { Pos += 4; return true; }
            if (string.CompareOrdinal(s, Pos, "False", 0, 5) == 0) { Pos += 5; return false; }
            throw new CheckpointException(where, $"malformed npy header: expected True/False at offset {Pos}");
        }

        public int[] ReadShape()
        {
            Expect('(');
            var dims = new List<int>();
            while (true)
            {
                Skip();
                if (Peek() == ')') { Pos++; break; }
                int start = Pos;
                while (Pos < s.Length && char.IsAsciiDigit(s[Pos])) Pos++;
                if (start == Pos || !int.TryParse(s.AsSpan(start, Pos - start), NumberStyles.None, CultureInfo.InvariantCulture, out int d))
                    throw new CheckpointException(where, $"malformed npy header: bad shape dimension at offset {start}");
                if (Peek() == 'L') Pos++; // Python 2 long literal
                dims.Add(d);
                Skip();
                if (Peek() == ',') { Pos++; continue; }
                Skip();
                Expect(')');
                break;
            }
            if (dims.Count > 32) throw new CheckpointException(where, "npy shape has too many dimensions");
            long n = 1;
            foreach (var d in dims)
            {
                n *= d;
                if (n > int.MaxValue) throw new CheckpointException(where, $"npy shape {Tensor.ShapeToString(dims.ToArray())} is too large");
            }
            return dims.ToArray();
        }
    }

    // ------------------------------------------------------------------ writing

    public static void Write(string path, RawArray a)
    {
        using var fs = File.Create(path);
        Write(fs, a);
    }

    /// <summary>Writes a version-1.0 file (2.0 when the header is too long), header padded to 64 bytes like numpy.</summary>
    public static void Write(Stream s, RawArray a)
    {
        string descr = a.DType switch
        {
            DType.I8 or DType.U8 or DType.Bool => "|" + Code(a.DType),
            DType.BF16 => throw new CheckpointException(null, "bfloat16 has no .npy dtype; write F32 or F16"),
            _ => "<" + Code(a.DType),
        };
        var shapeStr = a.Shape.Length == 1 ? $"({a.Shape[0]},)" : "(" + string.Join(", ", a.Shape) + ")";
        var dict = $"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shapeStr}, }}";
        int lenField = 2;
        int total = 6 + 2 + lenField + dict.Length + 1;
        if (total > 65535 + 10) lenField = 4;
        total = 6 + 2 + lenField + dict.Length + 1;
        int pad = (64 - total % 64) % 64;
        var header = dict + new string(' ', pad) + "\n";
        var pre = new byte[6 + 2 + lenField];
        Magic.CopyTo(pre, 0);
        pre[6] = (byte)(lenField == 2 ? 1 : 2);
        pre[7] = 0;
        if (lenField == 2) BinaryPrimitives.WriteUInt16LittleEndian(pre.AsSpan(8), (ushort)header.Length);
        else BinaryPrimitives.WriteUInt32LittleEndian(pre.AsSpan(8), (uint)header.Length);
        s.Write(pre);
        s.Write(Encoding.Latin1.GetBytes(header));
        s.Write(a.Data);
    }

    private static string Code(DType t) => t switch
    {
        DType.F32 => "f4",
        DType.F16 => "f2",
        DType.F64 => "f8",
        DType.I64 => "i8",
        DType.I32 => "i4",
        DType.I16 => "i2",
        DType.I8 => "i1",
        DType.U8 => "u1",
        DType.U16 => "u2",
        DType.U32 => "u4",
        DType.U64 => "u8",
        DType.Bool => "b1",
        _ => throw new ArgumentOutOfRangeException(nameof(t)),
    };
}
