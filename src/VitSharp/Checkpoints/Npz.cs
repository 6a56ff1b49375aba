using System.IO.Compression;

namespace VitSharp.Checkpoints;

/// <summary>
/// NumPy .npz archives: a zip of "&lt;key&gt;.npy" members, stored (np.savez) or deflated (np.savez_compressed),
/// Zip64 headers included (numpy forces them). Keys keep the archive order.
/// </summary>
public static class Npz
{
    /// <summary>Deflate cannot expand data by more than ~1032×; bounds what a lying header can make us allocate.</summary>
    internal const long MaxDeflateRatio = 1100;

    public static List<KeyValuePair<string, RawArray>> Read(string path)
    {
        using var fs = File.OpenRead(path);
        return Read(fs, path);
    }

    public static List<KeyValuePair<string, RawArray>> Read(Stream fs, string path)
    {
        var result = new List<KeyValuePair<string, RawArray>>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        using var zip = OpenZip(fs, path);
        foreach (var e in zip.Entries)
        {
            if (e.FullName.EndsWith('/')) continue;
            string key = e.FullName.EndsWith(".npy", StringComparison.Ordinal) ? e.FullName[..^4] : e.FullName;
            if (!seen.Add(key)) throw new CheckpointException(path, $"duplicate npz member '{e.FullName}'");
            long avail = BoundedLength(e, fs.Length, path);
            using var s = e.Open();
            RawArray a;
            try { a = Npy.Read(s, avail, $"{path}[{e.FullName}]"); }
            catch (InvalidDataException ex) { throw new CheckpointException(path, $"npz member '{e.FullName}' is corrupt: {ex.Message}", ex); }
            result.Add(new(key, a));
        }
        return result;
    }

    internal static ZipArchive OpenZip(Stream fs, string path)
    {
        try { return new ZipArchive(fs, ZipArchiveMode.Read, leaveOpen: true); }
        catch (InvalidDataException ex) { throw new CheckpointException(path, $"corrupt zip archive: {ex.Message}", ex); }
    }

    /// <summary>The most bytes an entry can really yield, whatever its (possibly corrupt) header claims.</summary>
    internal static long BoundedLength(ZipArchiveEntry e, long fileLength, string path)
    {
        if (e.CompressedLength > fileLength || e.Length < 0)
            throw new CheckpointException(path, $"zip member '{e.FullName}' claims {e.CompressedLength} bytes, more than the file holds");
        return Math.Min(e.Length, e.CompressedLength * MaxDeflateRatio + 1024);
    }

    public static void Write(Stream fs, IEnumerable<KeyValuePair<string, RawArray>> arrays, bool compressed = false)
    {
        using var zip = new ZipArchive(fs, ZipArchiveMode.Create, leaveOpen: true);
        foreach (var (key, a) in arrays)
        {
            var e = zip.CreateEntry(key + ".npy", compressed ? CompressionLevel.Optimal : CompressionLevel.NoCompression);
            e.LastWriteTime = new DateTimeOffset(1980, 1, 1, 0, 0, 0, TimeSpan.Zero);
            using var s = e.Open();
            Npy.Write(s, a);
        }
    }
}
