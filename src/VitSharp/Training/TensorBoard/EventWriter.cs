using System.Buffers.Binary;
using System.Globalization;

namespace VitSharp.Training.TensorBoard;

/// <summary>
/// Writes a TensorBoard event file (TFRecord of Event protos): the first record carries file_version
/// "brain.Event:2", then one record per scalar (Summary.Value with simple_value). Each record is flushed, so a
/// killed run leaves at most a truncated last record, which TensorBoard tolerates.
/// </summary>
public sealed class EventWriter : IDisposable
{
    public const string FileVersion = "brain.Event:2";

    private readonly FileStream stream;

    public EventWriter(string logDir, DateTimeOffset? now = null)
    {
        Directory.CreateDirectory(logDir);
        var t = now ?? DateTimeOffset.UtcNow;
        string host = SafeHost();
        string name = $"events.out.tfevents.{t.ToUnixTimeSeconds().ToString("D10", CultureInfo.InvariantCulture)}.{host}";
        var path = Path.Combine(logDir, name);
        // A second writer in the same second (a quick resume) must not clobber the first file.
        for (int i = 1; File.Exists(path); i++) path = Path.Combine(logDir, $"{name}.{i}");
        FilePath = path;
        stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write, FileShare.Read);
        var e = new ProtoWriter();
        e.Double(1, WallTime(t));
        e.String(3, FileVersion);
        WriteRecord(e.ToArray());
    }

    public string FilePath { get; }

    private static string SafeHost()
    {
        var h = Environment.MachineName;
        var chars = h.Where(c => char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.').ToArray();
        return chars.Length > 0 ? new string(chars) : "localhost";
    }

    private static double WallTime(DateTimeOffset t) => t.ToUnixTimeMilliseconds() / 1000.0;

    /// <summary>Writes one scalar event (tag, value) at <paramref name="step"/>.</summary>
    public void AddScalar(string tag, float value, long step, DateTimeOffset? wallTime = null)
    {
        var v = new ProtoWriter();
        v.String(1, tag);
        v.Float(2, value);
        var s = new ProtoWriter();
        s.Bytes(1, v.ToArray());
        var e = new ProtoWriter();
        e.Double(1, WallTime(wallTime ?? DateTimeOffset.UtcNow));
        if (step != 0) e.Int64(2, step); // proto3 leaves default values out
        e.Bytes(5, s.ToArray());
        WriteRecord(e.ToArray());
    }

    /// <summary>TFRecord framing: u64 length, masked crc of the length, data, masked crc of the data (little-endian).</summary>
    private void WriteRecord(ReadOnlySpan<byte> data)
    {
        Span<byte> header = stackalloc byte[12];
        BinaryPrimitives.WriteUInt64LittleEndian(header, (ulong)data.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(header[8..], Crc32C.Masked(header[..8]));
        Span<byte> footer = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(footer, Crc32C.Masked(data));
        stream.Write(header);
        stream.Write(data);
        stream.Write(footer);
        stream.Flush();
    }

    public void Dispose() => stream.Dispose();
}
