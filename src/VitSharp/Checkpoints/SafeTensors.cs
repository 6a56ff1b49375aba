using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>
/// safetensors files (huggingface/safetensors): u64 header length, JSON header, one flat little-endian byte buffer.
/// Validation follows the reference reader: header ≤ 100 MB and starting with '{', known dtypes, offsets sorted and
/// contiguous from 0, byte sizes matching shapes, no trailing bytes, no duplicate keys, string-only metadata.
/// </summary>
public static class SafeTensors
{
    public const long MaxHeaderSize = 100_000_000;

    public sealed record Contents(List<KeyValuePair<string, RawArray>> Tensors, Dictionary<string, string> Metadata);

    public static bool LooksLike(ReadOnlySpan<byte> head, long fileLength)
    {
        if (head.Length < 9) return false;
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(head);
        return n <= (ulong)Math.Min(MaxHeaderSize, fileLength - 8) && head[8] == (byte)'{';
    }

    public static Contents Read(string path)
    {
        using var fs = File.OpenRead(path);
        return Read(fs, path);
    }

    private sealed record Entry(string Name, DType DType, int[] Shape, long Begin, long End);

    public static Contents Read(Stream fs, string path)
    {
        long fileLength = fs.Length;
        Span<byte> nb = stackalloc byte[8];
        Npy.ReadFull(fs, nb, path, "safetensors header length");
        ulong n = BinaryPrimitives.ReadUInt64LittleEndian(nb);
        if (n > MaxHeaderSize) throw new CheckpointException(path, $"safetensors header length {n} exceeds the 100 MB limit");
        if ((long)n > fileLength - 8) throw new CheckpointException(path, $"safetensors header length {n} is past the end of the file ({fileLength} bytes)");
        var hb = new byte[n];
        Npy.ReadFull(fs, hb, path, "safetensors header");
        if (n == 0 || hb[0] != (byte)'{') throw new CheckpointException(path, "safetensors header does not start with '{'");
        var entries = new List<Entry>();
        var meta = new Dictionary<string, string>(StringComparer.Ordinal);
        try
        {
            using var doc = JsonDocument.Parse(hb, new JsonDocumentOptions { MaxDepth = 16 });
            if (doc.RootElement.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, "safetensors header is not a JSON object");
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var p in doc.RootElement.EnumerateObject())
            {
                if (!names.Add(p.Name)) throw new CheckpointException(path, $"duplicate safetensors key '{p.Name}'");
                if (p.Name == "__metadata__")
                {
                    if (p.Value.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, "safetensors __metadata__ is not an object");
                    foreach (var m in p.Value.EnumerateObject())
                    {
                        if (m.Value.ValueKind != JsonValueKind.String) throw new CheckpointException(path, $"safetensors metadata '{m.Name}' is not a string");
                        meta[m.Name] = m.Value.GetString()!;
                    }
                    continue;
                }
                entries.Add(ParseEntry(p, path));
            }
        }
        catch (JsonException ex) { throw new CheckpointException(path, $"safetensors header is not valid JSON: {ex.Message}", ex); }

        // Offsets must tile the buffer exactly: sorted, contiguous from 0, and the buffer must end the file.
        entries.Sort((a, b) => a.Begin != b.Begin ? a.Begin.CompareTo(b.Begin) : a.End.CompareTo(b.End));
        long expect = 0;
        foreach (var e in entries)
        {
            if (e.Begin != expect) throw new CheckpointException(path, $"safetensors tensor '{e.Name}' starts at {e.Begin}, expected {expect} (gap or overlap)");
            long bytes = RawArray.NumelOf(e.Shape) * e.DType.ItemSize();
            if (e.End - e.Begin != bytes) throw new CheckpointException(path, $"safetensors tensor '{e.Name}' {e.DType} {Tensor.ShapeToString(e.Shape)} needs {bytes} bytes, offsets give {e.End - e.Begin}");
            expect = e.End;
        }
        long dataStart = 8 + (long)n;
        if (dataStart + expect != fileLength)
            throw new CheckpointException(path, $"safetensors data ends at {dataStart + expect} but the file has {fileLength} bytes (truncated or trailing bytes)");

        var result = new List<KeyValuePair<string, RawArray>>(entries.Count);
        foreach (var e in entries)
        {
            long bytes = e.End - e.Begin;
            if (bytes > Array.MaxLength) throw new CheckpointException(path, $"safetensors tensor '{e.Name}' is too large");
            var data = new byte[bytes];
            Npy.ReadFull(fs, data, path, $"tensor '{e.Name}'");
            result.Add(new(e.Name, new RawArray(e.DType, e.Shape, data)));
        }
        return new Contents(result, meta);
    }

    private static Entry ParseEntry(JsonProperty p, string path)
    {
        var v = p.Value;
        if (v.ValueKind != JsonValueKind.Object) throw new CheckpointException(path, $"safetensors entry '{p.Name}' is not an object");
        if (!v.TryGetProperty("dtype", out var dt) || dt.ValueKind != JsonValueKind.String)
            throw new CheckpointException(path, $"safetensors entry '{p.Name}' has no dtype");
        var dtype = DTypes.FromSafetensorsName(dt.GetString()!)
            ?? throw new CheckpointException(path, $"safetensors tensor '{p.Name}' has unsupported dtype {dt.GetString()}");
        if (!v.TryGetProperty("shape", out var sh) || sh.ValueKind != JsonValueKind.Array)
            throw new CheckpointException(path, $"safetensors entry '{p.Name}' has no shape");
        var shape = new List<int>();
        long numel = 1;
        foreach (var d in sh.EnumerateArray())
        {
            if (d.ValueKind != JsonValueKind.Number || !d.TryGetInt32(out int x) || x < 0)
                throw new CheckpointException(path, $"safetensors tensor '{p.Name}' has a bad shape");
            numel *= x;
            if (numel > int.MaxValue) throw new CheckpointException(path, $"safetensors tensor '{p.Name}' is too large");
            shape.Add(x);
        }
        if (!v.TryGetProperty("data_offsets", out var off) || off.ValueKind != JsonValueKind.Array || off.GetArrayLength() != 2)
            throw new CheckpointException(path, $"safetensors entry '{p.Name}' has no data_offsets [begin, end]");
        if (!off[0].TryGetInt64(out long b) || !off[1].TryGetInt64(out long e) || b < 0 || e < b)
            throw new CheckpointException(path, $"safetensors tensor '{p.Name}' has invalid data_offsets");
        return new Entry(p.Name, dtype, shape.ToArray(), b, e);
    }

    // ------------------------------------------------------------------ writing

    public static void Write(Stream fs, IReadOnlyList<KeyValuePair<string, RawArray>> tensors, IReadOnlyDictionary<string, string>? metadata)
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            if (metadata != null && metadata.Count > 0)
            {
                w.WriteStartObject("__metadata__");
                foreach (var (k, v) in metadata) w.WriteString(k, v);
                w.WriteEndObject();
            }
            long off = 0;
            var names = new HashSet<string>(StringComparer.Ordinal);
            foreach (var (name, a) in tensors)
            {
                if (name == "__metadata__" || !names.Add(name)) throw new CheckpointException(null, $"safetensors: duplicate or reserved tensor name '{name}'");
                w.WriteStartObject(name);
                w.WriteString("dtype", a.DType.SafetensorsName());
                w.WriteStartArray("shape");
                foreach (var d in a.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteStartArray("data_offsets");
                w.WriteNumberValue(off);
                w.WriteNumberValue(off + a.Data.LongLength);
                w.WriteEndArray();
                w.WriteEndObject();
                off += a.Data.LongLength;
            }
            w.WriteEndObject();
        }
        // Pad with spaces so the data buffer starts 8-aligned, as the Rust writer does.
        int len = (int)ms.Length;
        int padded = (len + 7) / 8 * 8;
        for (int i = len; i < padded; i++) ms.WriteByte((byte)' ');
        Span<byte> nb = stackalloc byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(nb, (ulong)padded);
        fs.Write(nb);
        fs.Write(ms.GetBuffer(), 0, padded);
        foreach (var (_, a) in tensors) fs.Write(a.Data);
    }

}
