using System.IO.Compression;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

public enum CheckpointFormat { Npy, Npz, SafeTensors, PyTorch }

/// <summary>One array of a checkpoint: its stored dtype and shape, and the float32 tensor.</summary>
public sealed record CheckpointArray(string Name, DType SourceDType, int[] Shape, Tensor Tensor);

/// <summary>A loaded checkpoint: arrays in file order, metadata (safetensors only), and the detected format.</summary>
public sealed class Checkpoint
{
    public required CheckpointFormat Format { get; init; }
    public required string Path { get; init; }
    public required IReadOnlyList<CheckpointArray> Arrays { get; init; }
    public CheckpointMetadata Metadata { get; init; } = new();

    /// <summary>Name → float32 tensor, in file order.</summary>
    public List<KeyValuePair<string, Tensor>> Tensors => Arrays.Select(a => new KeyValuePair<string, Tensor>(a.Name, a.Tensor)).ToList();

    public long ParameterCount => Arrays.Sum(a => (long)a.Tensor.Numel);
}

/// <summary>
/// Format-agnostic checkpoint I/O. Load detects the format from the file's bytes (not its extension);
/// Save picks it from the extension (.safetensors, .npz, .npy, .pth/.pt/.bin) and writes atomically.
/// Every failure to read is a <see cref="CheckpointException"/> naming the file.
/// </summary>
public static class CheckpointFile
{
    public static CheckpointFormat DetectFormat(string path)
    {
        using var fs = OpenRead(path);
        return DetectFormat(fs, path);
    }

    private static FileStream OpenRead(string path)
    {
        try { return new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16); }
        catch (FileNotFoundException) { throw new CheckpointException(path, "file not found"); }
        catch (DirectoryNotFoundException) { throw new CheckpointException(path, "file not found"); }
        catch (UnauthorizedAccessException ex) { throw new CheckpointException(path, "cannot open: " + ex.Message, ex); }
    }

    private static CheckpointFormat DetectFormat(Stream fs, string path)
    {
        Span<byte> head = stackalloc byte[16];
        int n = 0;
        while (n < head.Length)
        {
            int r = fs.Read(head[n..]);
            if (r <= 0) break;
            n += r;
        }
        head = head[..n];
        fs.Position = 0;
        if (Npy.HasMagic(head)) return CheckpointFormat.Npy;
        if (head.Length >= 4 && head[0] == 'P' && head[1] == 'K')
        {
            using var zip = Npz.OpenZip(fs, path);
            bool npy = false, pkl = false;
            foreach (var e in zip.Entries)
            {
                if (e.FullName.EndsWith(".npy", StringComparison.Ordinal)) npy = true;
                if (e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal) || e.FullName.EndsWith("/constants.pkl", StringComparison.Ordinal)) pkl = true;
            }
            fs.Position = 0;
            if (pkl) return CheckpointFormat.PyTorch;
            if (npy || zip.Entries.Count == 0) return CheckpointFormat.Npz;
            throw new CheckpointException(path, "zip archive is neither an .npz (no .npy members) nor a PyTorch file (no data.pkl)");
        }
        if (SafeTensors.LooksLike(head, fs.Length)) return CheckpointFormat.SafeTensors;
        if (TorchFile.IsLegacyPickle(head)) return CheckpointFormat.PyTorch; // refused with a clear message by the reader
        if (n == 0) throw new CheckpointException(path, "file is empty");
        throw new CheckpointException(path, "unrecognised checkpoint format (expected .safetensors, .npz/.npy or a PyTorch .pth zip)");
    }

    public static Checkpoint Load(string path)
    {
        using var fs = OpenRead(path);
        return Load(fs, path);
    }

    /// <summary>Loads from a seekable stream; <paramref name="path"/> names it in errors and picks the .npy key.</summary>
    public static Checkpoint Load(Stream fs, string path)
    {
        if (!fs.CanSeek) throw new CheckpointException(path, "checkpoint streams must be seekable");
        try
        {
            var fmt = DetectFormat(fs, path);
            List<KeyValuePair<string, RawArray>> raw;
            var meta = new CheckpointMetadata();
            switch (fmt)
            {
                case CheckpointFormat.Npy:
                    raw = [new(System.IO.Path.GetFileNameWithoutExtension(path), Npy.Read(fs, fs.Length, path))];
                    break;
                case CheckpointFormat.Npz:
                    raw = Npz.Read(fs, path);
                    break;
                case CheckpointFormat.SafeTensors:
                    {
                        var c = SafeTensors.Read(fs, path);
                        raw = c.Tensors;
                        meta = CheckpointMetadata.FromDictionary(c.Metadata, path);
                        break;
                    }
                default:
                    raw = TorchFile.Read(fs, path);
                    break;
            }
            var arrays = new List<CheckpointArray>(raw.Count);
            for (int i = 0; i < raw.Count; i++)
            {
                var (k, a) = raw[i];
                arrays.Add(new CheckpointArray(k, a.DType, a.Shape, a.ToTensor()));
                raw[i] = default; // let the file bytes go as soon as each tensor exists (peak ≈ one model, not two)
            }
            return new Checkpoint { Format = fmt, Path = path, Arrays = arrays, Metadata = meta };
        }
        catch (Exception ex) when (ex is InvalidDataException or EndOfStreamException or IOException or ArgumentException or OverflowException or InvalidOperationException or NotSupportedException or IndexOutOfRangeException or FormatException)
        {
            // ZipArchive and the BCL readers throw these on corrupt input; our contract is one exception type naming the file.
            throw new CheckpointException(path, $"corrupt or unreadable checkpoint: {ex.Message}", ex);
        }
    }

    public static CheckpointFormat FormatFromExtension(string path) => System.IO.Path.GetExtension(path).ToLowerInvariant() switch
    {
        ".safetensors" => CheckpointFormat.SafeTensors,
        ".npz" => CheckpointFormat.Npz,
        ".npy" => CheckpointFormat.Npy,
        ".pth" or ".pt" or ".bin" or ".ckpt" => CheckpointFormat.PyTorch,
        var e => throw new CheckpointException(path, $"cannot tell the output format from extension '{e}' (use .safetensors, .npz, .pth)"),
    };

    /// <summary>Saves float32 tensors (as F32) with metadata (kept by safetensors only).</summary>
    public static void Save(string path, IEnumerable<KeyValuePair<string, Tensor>> tensors, CheckpointMetadata? metadata = null, DType dtype = DType.F32) =>
        SaveRaw(path, tensors.Select(kv => new KeyValuePair<string, RawArray>(kv.Key, RawArray.FromTensor(kv.Value, dtype))).ToList(), metadata);

    public static void SaveRaw(string path, IReadOnlyList<KeyValuePair<string, RawArray>> arrays, CheckpointMetadata? metadata = null)
    {
        var fmt = FormatFromExtension(path);
        AtomicFile.Write(path, fs =>
        {
            switch (fmt)
            {
                case CheckpointFormat.SafeTensors: SafeTensors.Write(fs, arrays, metadata?.ToDictionary()); break;
                case CheckpointFormat.Npz: Npz.Write(fs, arrays); break;
                case CheckpointFormat.Npy:
                    if (arrays.Count != 1) throw new CheckpointException(path, $".npy holds exactly one array, got {arrays.Count}");
                    Npy.Write(fs, arrays[0].Value);
                    break;
                default: TorchFile.Write(fs, arrays); break;
            }
        });
    }

}
