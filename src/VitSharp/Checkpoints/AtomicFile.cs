using System.Text;

namespace VitSharp.Checkpoints;

/// <summary>
/// Writes files so a crash, Ctrl-C or kill never leaves a partial one: the content goes to a temporary file in
/// the same directory (same file system, so the rename is atomic), is flushed to disk, then renamed over the
/// target. Readers see either the old file or the complete new one.
/// </summary>
public static class AtomicFile
{
    /// <summary>Prefix of temporary files; <see cref="RemoveStaleTemporaries"/> cleans leftovers of killed runs.</summary>
    public const string TempMarker = ".tmp-";

    public static void Write(string path, Action<Stream> write)
    {
        var full = Path.GetFullPath(path);
        var dir = Path.GetDirectoryName(full) ?? throw new VitException($"cannot write '{path}': no directory");
        Directory.CreateDirectory(dir);
        var tmp = Path.Combine(dir, "." + Path.GetFileName(full) + TempMarker + Environment.ProcessId + "-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            using (var fs = new FileStream(tmp, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None, 1 << 16))
            {
                write(fs);
                fs.Flush(flushToDisk: true);
            }
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception e)
        {
            TryDelete(tmp);
            if (e is IOException or UnauthorizedAccessException)
                throw new VitException($"cannot write '{path}': {e.Message}", e);
            throw;
        }
    }

    public static void WriteAllBytes(string path, ReadOnlyMemory<byte> bytes) => Write(path, s => s.Write(bytes.Span));

    public static void WriteAllText(string path, string text) =>
        Write(path, s =>
        {
            var bytes = new UTF8Encoding(encoderShouldEmitUTF8Identifier: false).GetBytes(text);
            s.Write(bytes);
        });

    /// <summary>Deletes temporary files a killed writer left in <paramref name="dir"/> (best effort).</summary>
    public static void RemoveStaleTemporaries(string dir)
    {
        if (!Directory.Exists(dir)) return;
        foreach (var f in Directory.EnumerateFiles(dir, "." + "*" + TempMarker + "*")) TryDelete(f);
    }

    private static void TryDelete(string f)
    {
        try { File.Delete(f); }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}
