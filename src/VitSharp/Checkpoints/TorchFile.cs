using System.IO.Compression;
using System.Text;

namespace VitSharp.Checkpoints;

/// <summary>
/// PyTorch torch.save zip archives (.pt/.pth, PyTorch ≥ 1.6), read through <see cref="RestrictedUnpickler"/>.
/// The archive folder prefix is whatever precedes the first '/', storages may be shared between tensors with
/// offsets and arbitrary (non-negative) strides, and state dicts nested under 'state_dict'/'model'/... are found.
/// Legacy (pre-zip) files and TorchScript archives are refused with a message saying how to re-save them.
/// </summary>
public static class TorchFile
{
    /// <summary>Keys under which training scripts commonly nest the model's state dict, in priority order.</summary>
    public static readonly string[] NestedKeys = ["state_dict", "model", "model_state", "model_state_dict", "module", "net", "state_dict_ema", "model_ema"];

    public static bool IsLegacyPickle(ReadOnlySpan<byte> head) => head.Length >= 2 && head[0] == 0x80 && head[1] <= 5;

    public static List<KeyValuePair<string, RawArray>> Read(string path)
    {
        using var fs = File.OpenRead(path);
        return Read(fs, path);
    }

    public static List<KeyValuePair<string, RawArray>> Read(Stream fs, string path)
    {
        Span<byte> head = stackalloc byte[4];
        int got = fs.Read(head);
        fs.Position = 0;
        if (got < 4 || head[0] != 'P' || head[1] != 'K')
        {
            if (got >= 2 && IsLegacyPickle(head))
                throw new CheckpointException(path, "legacy (pre-1.6, non-zip) torch.save format is not supported; re-save it with a current PyTorch: torch.save(torch.load(f), f2)");
            throw new CheckpointException(path, "not a PyTorch zip archive");
        }
        using var zip = Npz.OpenZip(fs, path);
        var entries = new Dictionary<string, ZipArchiveEntry>(StringComparer.Ordinal);
        string? prefix = null;
        foreach (var e in zip.Entries)
        {
            int slash = e.FullName.IndexOf('/');
            if (slash <= 0) continue;
            prefix ??= e.FullName[..slash];
            if (e.FullName.StartsWith(prefix + "/", StringComparison.Ordinal)) entries[e.FullName[(prefix.Length + 1)..]] = e;
        }
        if (prefix == null) throw new CheckpointException(path, "zip archive has no PyTorch records (no '<archive>/data.pkl')");
        if (entries.ContainsKey("constants.pkl") || entries.Keys.Any(k => k.StartsWith("code/", StringComparison.Ordinal)))
            throw new CheckpointException(path, "this is a TorchScript archive (torch.jit.save), which holds code; load it in PyTorch and save model.state_dict() with torch.save");
        if (!entries.TryGetValue("data.pkl", out var pklEntry))
            throw new CheckpointException(path, $"zip archive has no '{prefix}/data.pkl' record: not a torch.save file");
        bool bigEndian = false;
        if (entries.TryGetValue("byteorder", out var bo))
        {
            var s = Encoding.ASCII.GetString(ReadEntry(bo, fs.Length, path, 16)).Trim();
            if (s == "big") bigEndian = true;
            else if (s != "little") throw new CheckpointException(path, $"unknown byteorder record '{s}'");
        }
        var pkl = ReadEntry(pklEntry, fs.Length, path, 1L << 31);
        var root = RestrictedUnpickler.Load(pkl, $"{path}[{pklEntry.FullName}]");
        var dict = FindStateDict(root) ?? throw new CheckpointException(path, "the pickle holds no dictionary of tensors (state dict)");

        var storages = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        var result = new List<KeyValuePair<string, RawArray>>();
        // Views may repeat storage data (tied weights, stride-0 expands); a crafted file could ask for terabytes
        // that way, so bound what the tensors may add up to relative to the file.
        long budget = 4 * fs.Length + (64L << 20), total = 0;
        // How many tensors view each storage: a storage read for one dense whole-storage tensor (the usual case) is
        // handed over without a copy, and every storage is released after its last view (peak ≈ one model).
        var uses = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var (_, value) in dict) uses[value.Storage.Key] = uses.GetValueOrDefault(value.Storage.Key) + 1;
        foreach (var (key, value) in dict)
        {
            var st = value.Storage;
            total += RawArray.NumelOf(value.Size) * st.DType.ItemSize();
            if (total > budget)
                throw new CheckpointException(path, $"tensor '{key}': the views add up to {total} bytes, far more than the {fs.Length}-byte file holds (corrupt or malicious)");
            if (!storages.TryGetValue(st.Key, out var bytes))
            {
                if (!entries.TryGetValue("data/" + st.Key, out var rec))
                    throw new CheckpointException(path, $"tensor '{key}': storage record '{prefix}/data/{st.Key}' is missing");
                long need = st.Numel * st.DType.ItemSize();
                long have = Npz.BoundedLength(rec, fs.Length, path);
                if (have < need) throw new CheckpointException(path, $"storage record '{rec.FullName}' holds {have} bytes, {need} needed for {st.Numel} {st.DType} elements");
                bytes = ReadEntry(rec, fs.Length, path, need, exact: need);
                if (bigEndian) DTypes.SwapBytes(bytes, st.DType.ItemSize());
                storages[st.Key] = bytes;
            }
            bool last = --uses[st.Key] == 0;
            if (last) storages.Remove(st.Key);
            result.Add(new(key, Materialize(value, bytes, reuse: last)));
        }
        return result;
    }

    /// <summary>Copies a (offset, size, stride) view of a storage into a dense C-order array.</summary>
    /// <param name="reuse">The storage is not needed afterwards: a view of all of it is returned without copying.</param>
    internal static RawArray Materialize(TensorRef t, byte[] storage, bool reuse = false)
    {
        int item = t.Storage.DType.ItemSize();
        long numel = RawArray.NumelOf(t.Size);
        var contiguous = VitSharp.Tensors.Tensor.ContiguousStrides(t.Size);
        bool dense = true;
        for (int k = 0; k < t.Size.Length; k++) dense &= t.Size[k] == 1 || t.Stride[k] == contiguous[k];
        if (reuse && dense && t.Offset == 0 && numel * item == storage.LongLength)
            return new RawArray(t.Storage.DType, (int[])t.Size.Clone(), storage);
        var dst = new byte[numel * item];
        if (dense && numel > 0) Buffer.BlockCopy(storage, (int)(t.Offset * item), dst, 0, dst.Length);
        else if (numel > 0)
        {
            int rank = t.Size.Length;
            var idx = new int[rank];
            for (long i = 0; i < numel; i++)
            {
                long src = t.Offset;
                for (int k = 0; k < rank; k++) src += idx[k] * t.Stride[k];
                Buffer.BlockCopy(storage, (int)(src * item), dst, (int)(i * item), item);
                for (int k = rank - 1; k >= 0; k--)
                {
                    if (++idx[k] < t.Size[k]) break;
                    idx[k] = 0;
                }
            }
        }
        return new RawArray(t.Storage.DType, (int[])t.Size.Clone(), dst);
    }

    private static List<KeyValuePair<string, TensorRef>>? FindStateDict(object? o, int depth = 0, HashSet<PyDict>? seen = null)
    {
        if (o is TensorRef single) return [new("tensor", single)];
        // Nested checkpoints are a few levels deep; a crafted deep nesting must not overflow the stack, and dicts
        // shared through the memo are visited once so the search stays linear.
        if (depth > 16 || o is not PyDict d) return null;
        seen ??= new HashSet<PyDict>(ReferenceEqualityComparer.Instance);
        if (!seen.Add(d)) return null;
        var tensors = new List<KeyValuePair<string, TensorRef>>();
        foreach (var (k, v) in d.Items)
            if (k is string ks && v is TensorRef t) tensors.Add(new(ks, t));
        if (tensors.Count > 0) return tensors;
        foreach (var key in NestedKeys)
            if (FindStateDict(d.Get(key), depth + 1, seen) is { } nested) return nested;
        foreach (var (_, v) in d.Items)
            if (v is PyDict && FindStateDict(v, depth + 1, seen) is { } any) return any;
        return null;
    }

    private static byte[] ReadEntry(ZipArchiveEntry e, long fileLength, string path, long max, long exact = -1)
    {
        long len = Npz.BoundedLength(e, fileLength, path);
        if (exact >= 0) len = exact;
        if (len > max || len > Array.MaxLength) throw new CheckpointException(path, $"record '{e.FullName}' is too large ({len} bytes)");
        var buf = new byte[len];
        try
        {
            using var s = e.Open();
            Npy.ReadFull(s, buf, $"{path}[{e.FullName}]", "record data");
        }
        catch (InvalidDataException ex) { throw new CheckpointException(path, $"record '{e.FullName}' is corrupt: {ex.Message}", ex); }
        return buf;
    }

    // ------------------------------------------------------------------ writing

    /// <summary>
    /// Writes an OrderedDict state dict as torch.save does (archive/data.pkl, archive/data/N, archive/version;
    /// stored records 64-byte aligned). Float arrays are written in their own dtype (F32/F16/BF16/F64).
    /// </summary>
    public static void Write(Stream fs, IReadOnlyList<KeyValuePair<string, RawArray>> tensors, bool forceZip64 = false)
    {
        var items = new List<(string, string, string, int[])>();
        for (int i = 0; i < tensors.Count; i++)
        {
            var (name, a) = tensors[i];
            string st = a.DType switch
            {
                DType.F32 => "FloatStorage",
                DType.F16 => "HalfStorage",
                DType.BF16 => "BFloat16Storage",
                DType.F64 => "DoubleStorage",
                DType.I64 => "LongStorage",
                DType.I32 => "IntStorage",
                DType.I16 => "ShortStorage",
                DType.I8 => "CharStorage",
                DType.U8 => "ByteStorage",
                DType.Bool => "BoolStorage",
                _ => throw new CheckpointException(null, $"tensor '{name}': {a.DType} cannot be stored in a .pth file"),
            };
            items.Add((name, st, i.ToString(System.Globalization.CultureInfo.InvariantCulture), a.Shape));
        }
        var zw = new ZipWriter(fs, forceZip64);
        zw.AddStored("archive/data.pkl", PickleWriter.StateDict(items));
        zw.AddStored("archive/byteorder", "little"u8);
        for (int i = 0; i < tensors.Count; i++)
            zw.AddStored($"archive/data/{i}", tensors[i].Value.Data);
        zw.AddStored("archive/version", "3\n"u8);
        zw.Finish();
    }
}
