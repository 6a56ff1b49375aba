using System.Buffers.Binary;
using System.Text;

namespace VitSharp.Checkpoints;

/// <summary>
/// A minimal zip writer for PyTorch archives: STORED records whose data starts 64-byte aligned (padding in an
/// "FB" extra field, as PyTorch's writer does), CRC-32, Zip64 records only when sizes or offsets need them
/// (or when forced, for tests). .NET's ZipArchive cannot align record data, hence this.
/// </summary>
public sealed class ZipWriter
{
    private const uint Max32 = 0xFFFFFFFF;
    private readonly Stream s;
    private readonly bool forceZip64;
    private readonly List<(byte[] Name, uint Crc, long Size, long Offset)> entries = [];

    public ZipWriter(Stream s, bool forceZip64 = false)
    {
        this.s = s;
        this.forceZip64 = forceZip64;
    }

    public void AddStored(string name, ReadOnlySpan<byte> data, int align = 64)
    {
        var nameBytes = Encoding.UTF8.GetBytes(name);
        uint crc = Crc32.Compute(data);
        long offset = s.Position;
        long size = data.Length;
        bool z64 = forceZip64 || size >= Max32;
        int z64Len = z64 ? 20 : 0;
        long pos = offset + 30 + nameBytes.Length + z64Len;
        int pad = (int)((align - (pos + 4) % align) % align);
        var h = new byte[30];
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0), 0x04034b50);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), (ushort)(z64 ? 45 : 20));
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(12), 33); // 1980-01-01: reproducible files
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(14), crc);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(18), z64 ? Max32 : (uint)size);
        BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(22), z64 ? Max32 : (uint)size);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(26), (ushort)nameBytes.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(28), (ushort)(z64Len + 4 + pad));
        s.Write(h);
        s.Write(nameBytes);
        if (z64)
        {
            Span<byte> x = stackalloc byte[20];
            BinaryPrimitives.WriteUInt16LittleEndian(x, 1);
            BinaryPrimitives.WriteUInt16LittleEndian(x[2..], 16);
            BinaryPrimitives.WriteUInt64LittleEndian(x[4..], (ulong)size);
            BinaryPrimitives.WriteUInt64LittleEndian(x[12..], (ulong)size);
            s.Write(x);
        }
        Span<byte> fb = stackalloc byte[4 + 63];
        fb[0] = (byte)'F';
        fb[1] = (byte)'B';
        BinaryPrimitives.WriteUInt16LittleEndian(fb[2..], (ushort)pad);
        fb.Slice(4, pad).Fill((byte)'Z');
        s.Write(fb[..(4 + pad)]);
        s.Write(data);
        entries.Add((nameBytes, crc, size, offset));
    }

    public void Finish()
    {
        long cdStart = s.Position;
        foreach (var (name, crc, size, offset) in entries)
        {
            bool z64 = forceZip64 || size >= Max32 || offset >= Max32;
            var h = new byte[46];
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(0), 0x02014b50);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(4), (ushort)(z64 ? 45 : 20));
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(6), (ushort)(z64 ? 45 : 20));
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(14), 33);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(16), crc);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(20), z64 ? Max32 : (uint)size);
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(24), z64 ? Max32 : (uint)size);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(28), (ushort)name.Length);
            BinaryPrimitives.WriteUInt16LittleEndian(h.AsSpan(30), (ushort)(z64 ? 28 : 0));
            BinaryPrimitives.WriteUInt32LittleEndian(h.AsSpan(42), z64 ? Max32 : (uint)offset);
            s.Write(h);
            s.Write(name);
            if (z64)
            {
                var x = new byte[28];
                BinaryPrimitives.WriteUInt16LittleEndian(x, 1);
                BinaryPrimitives.WriteUInt16LittleEndian(x.AsSpan(2), 24);
                BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(4), (ulong)size);
                BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(12), (ulong)size);
                BinaryPrimitives.WriteUInt64LittleEndian(x.AsSpan(20), (ulong)offset);
                s.Write(x);
            }
        }
        long cdEnd = s.Position;
        long cdSize = cdEnd - cdStart;
        bool z64End = forceZip64 || entries.Count >= 0xFFFF || cdStart >= Max32 || cdSize >= Max32;
        if (z64End)
        {
            var r = new byte[56];
            BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(0), 0x06064b50);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(4), 44);
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(12), 45);
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(14), 45);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(24), (ulong)entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(32), (ulong)entries.Count);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(40), (ulong)cdSize);
            BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(48), (ulong)cdStart);
            s.Write(r);
            var loc = new byte[20];
            BinaryPrimitives.WriteUInt32LittleEndian(loc.AsSpan(0), 0x07064b50);
            BinaryPrimitives.WriteUInt64LittleEndian(loc.AsSpan(8), (ulong)cdEnd);
            BinaryPrimitives.WriteUInt32LittleEndian(loc.AsSpan(16), 1);
            s.Write(loc);
        }
        var e = new byte[22];
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(0), 0x06054b50);
        ushort count = z64End ? (ushort)0xFFFF : (ushort)entries.Count;
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(8), count);
        BinaryPrimitives.WriteUInt16LittleEndian(e.AsSpan(10), count);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(12), z64End ? Max32 : (uint)cdSize);
        BinaryPrimitives.WriteUInt32LittleEndian(e.AsSpan(16), z64End ? Max32 : (uint)cdStart);
        s.Write(e);
    }
}

/// <summary>CRC-32 (IEEE, reflected polynomial 0xEDB88320) for zip and PNG; System.IO.Hashing is not in the BCL.</summary>
public static class Crc32
{
    private static readonly uint[] Table = MakeTable();

    private static uint[] MakeTable()
    {
        var t = new uint[256];
        for (uint i = 0; i < 256; i++)
        {
            uint c = i;
            for (int k = 0; k < 8; k++) c = (c & 1) != 0 ? 0xEDB88320 ^ (c >> 1) : c >> 1;
            t[i] = c;
        }
        return t;
    }

    public static uint Compute(ReadOnlySpan<byte> data) => Update(0, data);

    /// <summary>Continues a CRC over more bytes (PNG checksums chunk type and body separately).</summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        uint c = ~crc;
        var t = Table;
        foreach (byte b in data) c = t[(c ^ b) & 0xFF] ^ (c >> 8);
        return ~c;
    }
}
