using System.Buffers.Binary;
using System.Text;

namespace VitSharp.Training.TensorBoard;

/// <summary>Just enough protobuf wire format for tensorboard's Event/Summary messages.</summary>
internal sealed class ProtoWriter
{
    private readonly List<byte> buf = [];

    public byte[] ToArray() => [.. buf];

    public void Varint(ulong v)
    {
        while (v >= 0x80)
        {
            buf.Add((byte)(v | 0x80));
            v >>= 7;
        }
        buf.Add((byte)v);
    }

    private void Tag(int field, int wireType) => Varint((ulong)((field << 3) | wireType));

    public void Double(int field, double v)
    {
        Tag(field, 1);
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteDoubleLittleEndian(b, v);
        foreach (var x in b) buf.Add(x);
    }

    public void Float(int field, float v)
    {
        Tag(field, 5);
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteSingleLittleEndian(b, v);
        foreach (var x in b) buf.Add(x);
    }

    /// <summary>int64 as a varint (negative values take 10 bytes, as protobuf specifies).</summary>
    public void Int64(int field, long v)
    {
        Tag(field, 0);
        Varint(unchecked((ulong)v));
    }

    public void Bytes(int field, ReadOnlySpan<byte> v)
    {
        Tag(field, 2);
        Varint((ulong)v.Length);
        foreach (var x in v) buf.Add(x);
    }

    public void String(int field, string v) => Bytes(field, Encoding.UTF8.GetBytes(v));
}

/// <summary>Reads protobuf fields one by one; unknown fields can be skipped by wire type.</summary>
internal ref struct ProtoReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> data = data;
    private int pos;

    public readonly bool End => pos >= data.Length;

    public ulong Varint()
    {
        ulong v = 0;
        for (int shift = 0; shift < 64; shift += 7)
        {
            if (pos >= data.Length) throw new InvalidDataException("protobuf: truncated varint");
            byte b = data[pos++];
            v |= (ulong)(b & 0x7F) << shift;
            if (b < 0x80) return v;
        }
        throw new InvalidDataException("protobuf: varint longer than 10 bytes");
    }

    public (int Field, int WireType) Tag()
    {
        ulong t = Varint();
        return ((int)(t >> 3), (int)(t & 7));
    }

    public double Double() => BinaryPrimitives.ReadDoubleLittleEndian(Take(8));

    public float Float() => BinaryPrimitives.ReadSingleLittleEndian(Take(4));

    public ReadOnlySpan<byte> Bytes() => Take(checked((int)Varint()));

    private ReadOnlySpan<byte> Take(int n)
    {
        if (n < 0 || pos + n > data.Length) throw new InvalidDataException("protobuf: field runs past the end of the message");
        var s = data.Slice(pos, n);
        pos += n;
        return s;
    }

    public void Skip(int wireType)
    {
        switch (wireType)
        {
            case 0: Varint(); break;
            case 1: Take(8); break;
            case 2: Bytes(); break;
            case 5: Take(4); break;
            default: throw new InvalidDataException($"protobuf: unsupported wire type {wireType}");
        }
    }
}
