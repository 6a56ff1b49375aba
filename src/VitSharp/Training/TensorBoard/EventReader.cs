using System.Buffers.Binary;
using System.Text;

namespace VitSharp.Training.TensorBoard;

/// <summary>One decoded Event: wall time, step, file_version (first record) and its scalar values.</summary>
public sealed record TbEvent(double WallTime, long Step, string? FileVersion, IReadOnlyList<(string Tag, float Value)> Scalars);

/// <summary>Reads TFRecord event files back, validating every masked CRC-32C (used by tests and `vit info`).</summary>
public static class EventReader
{
    /// <summary>Raw records; throws <see cref="InvalidDataException"/> on any CRC mismatch or truncation.</summary>
    public static List<byte[]> ReadRecords(string path)
    {
        var bytes = File.ReadAllBytes(path);
        var records = new List<byte[]>();
        int pos = 0;
        while (pos < bytes.Length)
        {
            if (pos + 12 > bytes.Length) throw new InvalidDataException($"{path}: truncated record header at byte {pos}");
            var head = bytes.AsSpan(pos, 8);
            ulong len = BinaryPrimitives.ReadUInt64LittleEndian(head);
            uint lenCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 8, 4));
            if (lenCrc != Crc32C.Masked(head)) throw new InvalidDataException($"{path}: bad length CRC at byte {pos}");
            if (len > (ulong)(bytes.Length - pos - 16)) throw new InvalidDataException($"{path}: record at byte {pos} runs past the end");
            var data = bytes.AsSpan(pos + 12, (int)len);
            uint dataCrc = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(pos + 12 + (int)len, 4));
            if (dataCrc != Crc32C.Masked(data)) throw new InvalidDataException($"{path}: bad data CRC at byte {pos}");
            records.Add(data.ToArray());
            pos += 16 + (int)len;
        }
        return records;
    }

    public static List<TbEvent> ReadEvents(string path) => [.. ReadRecords(path).Select(DecodeEvent)];

    public static TbEvent DecodeEvent(byte[] record)
    {
        var r = new ProtoReader(record);
        double wall = 0;
        long step = 0;
        string? version = null;
        var scalars = new List<(string, float)>();
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            switch (field, wire)
            {
                case (1, 1): wall = r.Double(); break;
                case (2, 0): step = unchecked((long)r.Varint()); break;
                case (3, 2): version = Encoding.UTF8.GetString(r.Bytes()); break;
                case (5, 2): DecodeSummary(r.Bytes(), scalars); break;
                default: r.Skip(wire); break;
            }
        }
        return new TbEvent(wall, step, version, scalars);
    }

    private static void DecodeSummary(ReadOnlySpan<byte> summary, List<(string, float)> scalars)
    {
        var r = new ProtoReader(summary);
        while (!r.End)
        {
            var (field, wire) = r.Tag();
            if (field == 1 && wire == 2)
            {
                var v = new ProtoReader(r.Bytes());
                string tag = "";
                float? value = null;
                while (!v.End)
                {
                    var (f, w) = v.Tag();
                    if (f == 1 && w == 2) tag = Encoding.UTF8.GetString(v.Bytes());
                    else if (f == 2 && w == 5) value = v.Float();
                    else v.Skip(w);
                }
                if (value is { } x) scalars.Add((tag, x));
            }
            else r.Skip(wire);
        }
    }
}
