using System.IO.Compression;
using System.Reflection;

namespace VitSharp.Data;

/// <summary>
/// IDX files (MNIST / Fashion-MNIST): big-endian header 0x00 0x00 type ndims, then ndims sizes, then data.
/// Plain or gzip (detected by magic, not by name). Headers are validated against the data length so a
/// truncated or wrong file gives a clear error instead of garbage.
/// </summary>
public static class Idx
{
    /// <summary>Refuse anything larger than this after decompression (guards against gzip bombs / bad sizes).</summary>
    public const long MaxBytes = 1L << 30;

    public readonly record struct IdxArray(int[] Shape, byte[] Data);

    public static IdxArray ReadFile(string path)
    {
        if (!File.Exists(path)) throw new VitException($"IDX file '{path}' does not exist");
        using var fs = File.OpenRead(path);
        return Read(fs, path);
    }

    public static IdxArray Read(Stream stream, string name)
    {
        byte[] raw;
        try { raw = ReadAll(stream, name); }
        catch (InvalidDataException e) { throw new VitException($"{name}: corrupt gzip data ({e.Message})"); }
        return Parse(raw, name);
    }

    private static byte[] ReadAll(Stream stream, string name)
    {
        var buffered = new BufferedStream(stream);
        Span<byte> magic = stackalloc byte[2];
        int got = buffered.Read(magic);
        var ms = new MemoryStream();
        ms.Write(magic[..got]);
        bool gz = got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
        if (!gz)
        {
            CopyLimited(buffered, ms, name);
            return ms.ToArray();
        }
        var all = new MemoryStream();
        all.Write(magic);
        buffered.CopyTo(all);
        all.Position = 0;
        using var z = new GZipStream(all, CompressionMode.Decompress);
        var outMs = new MemoryStream();
        CopyLimited(z, outMs, name);
        return outMs.ToArray();
    }

    private static void CopyLimited(Stream src, MemoryStream dst, string name)
    {
        var buf = new byte[1 << 16];
        int n;
        while ((n = src.Read(buf)) > 0)
        {
            if (dst.Length + n > MaxBytes) throw new VitException($"{name}: IDX data larger than {MaxBytes} bytes");
            dst.Write(buf, 0, n);
        }
    }

    public static IdxArray Parse(byte[] raw, string name)
    {
        if (raw.Length < 4) throw new VitException($"{name}: not an IDX file (only {raw.Length} bytes)");
        if (raw[0] != 0 || raw[1] != 0) throw new VitException($"{name}: not an IDX file (bad magic {raw[0]:x2}{raw[1]:x2})");
        if (raw[2] != 0x08) throw new VitException($"{name}: IDX element type 0x{raw[2]:x2} unsupported (only unsigned bytes, 0x08)");
        int ndims = raw[3];
        if (ndims is < 1 or > 4) throw new VitException($"{name}: IDX with {ndims} dimensions unsupported");
        int header = 4 + 4 * ndims;
        if (raw.Length < header) throw new VitException($"{name}: truncated IDX header");
        var shape = new int[ndims];
        long count = 1;
        for (int i = 0; i < ndims; i++)
        {
            uint d = (uint)(raw[4 + 4 * i] << 24 | raw[5 + 4 * i] << 16 | raw[6 + 4 * i] << 8 | raw[7 + 4 * i]);
            if (d > int.MaxValue) throw new VitException($"{name}: IDX dimension {i} = {d} too large");
            shape[i] = (int)d;
            count *= d;
        }
        if (raw.Length - header != count)
            throw new VitException($"{name}: IDX header says {string.Join('x', shape)} = {count} bytes, file holds {raw.Length - header}");
        return new IdxArray(shape, raw.AsSpan(header).ToArray());
    }

    /// <summary>Images (N,H,W) + labels (N) → a gray dataset.</summary>
    public static InMemoryDataset Load(string imagesPath, string labelsPath, IReadOnlyList<string> classes, string name)
    {
        var images = ReadFile(imagesPath);
        var labels = ReadFile(labelsPath);
        return Combine(images, labels, classes, name, imagesPath, labelsPath);
    }

    internal static InMemoryDataset Combine(IdxArray images, IdxArray labels, IReadOnlyList<string> classes, string name, string imagesName, string labelsName)
    {
        if (images.Shape.Length != 3) throw new VitException($"{imagesName}: expected an (N,H,W) image IDX, got {string.Join('x', images.Shape)}");
        if (labels.Shape.Length != 1) throw new VitException($"{labelsName}: expected an (N) label IDX, got {string.Join('x', labels.Shape)}");
        if (images.Shape[0] != labels.Shape[0])
            throw new VitException($"{imagesName} holds {images.Shape[0]} images but {labelsName} holds {labels.Shape[0]} labels");
        var lb = new int[labels.Data.Length];
        for (int i = 0; i < lb.Length; i++)
        {
            lb[i] = labels.Data[i];
            if (lb[i] >= classes.Count) throw new VitException($"{labelsName}: label {lb[i]} at #{i} out of range for {classes.Count} classes");
        }
        return new InMemoryDataset(images.Data, lb, images.Shape[2], images.Shape[1], 1, classes, name);
    }
}

/// <summary>Fashion-MNIST: the embedded subset, Debian's full set, or any folder with the four IDX files.</summary>
public static class FashionMnist
{
    public static readonly string[] ClassNames =
        ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"];

    /// <summary>Where Debian's <c>dataset-fashion-mnist</c> package installs the gzipped IDX files.</summary>
    public const string DebianPath = "/usr/share/datasets/fashion-mnist";

    /// <summary>The class-balanced subset shipped inside the library: 10,000 train and 2,000 test images (28×28 gray).</summary>
    public static (InMemoryDataset Train, InMemoryDataset Test) LoadEmbedded()
    {
        var asm = typeof(FashionMnist).Assembly;
        InMemoryDataset Load(string split)
        {
            var images = Idx.Read(Open(asm, $"fashion-mnist-{split}-images-idx.gz"), $"embedded fashion-mnist-{split}-images");
            var labels = Idx.Read(Open(asm, $"fashion-mnist-{split}-labels-idx.gz"), $"embedded fashion-mnist-{split}-labels");
            return Idx.Combine(images, labels, ClassNames, $"fashion-mnist (embedded) {split}", "embedded images", "embedded labels");
        }
        return (Load("train"), Load("test"));
    }

    private static Stream Open(Assembly asm, string file) =>
        asm.GetManifestResourceStream("VitSharp.Data.Embedded." + file)
        ?? throw new VitException($"embedded resource {file} missing from {asm.GetName().Name}");

    /// <summary>
    /// The folder holding the full dataset: <paramref name="dir"/> if given, else $VIT_FASHION_MNIST, else Debian's
    /// path; null when none has the files.
    /// </summary>
    public static string? Find(string? dir = null)
    {
        foreach (var d in new[] { dir, Environment.GetEnvironmentVariable("VIT_FASHION_MNIST"), DebianPath })
            if (!string.IsNullOrEmpty(d) && FileIn(d, "train-images-idx3-ubyte") != null && FileIn(d, "t10k-labels-idx1-ubyte") != null)
                return d;
        return null;
    }

    private static string? FileIn(string dir, string stem)
    {
        foreach (var suffix in new[] { ".gz", "", ".idx" })
        {
            var p = Path.Combine(dir, stem + suffix);
            if (File.Exists(p)) return p;
        }
        return null;
    }

    /// <summary>The full 60,000 + 10,000 images from a folder (see <see cref="Find"/>).</summary>
    public static (InMemoryDataset Train, InMemoryDataset Test) Load(string? dir = null)
    {
        var d = Find(dir) ?? throw new VitException(
            dir != null ? $"no Fashion-MNIST IDX files (train-images-idx3-ubyte[.gz] ...) in '{dir}'"
                        : $"full Fashion-MNIST not found: install Debian's dataset-fashion-mnist ({DebianPath}) or set VIT_FASHION_MNIST");
        string F(string stem) => FileIn(d, stem) ?? throw new VitException($"'{d}' lacks {stem}[.gz]");
        return (Idx.Load(F("train-images-idx3-ubyte"), F("train-labels-idx1-ubyte"), ClassNames, "fashion-mnist train"),
                Idx.Load(F("t10k-images-idx3-ubyte"), F("t10k-labels-idx1-ubyte"), ClassNames, "fashion-mnist test"));
    }
}

/// <summary>CIFAR-10 binary version: records of 1 label byte + 3072 bytes (R, G, B planes of 32×32).</summary>
public static class Cifar10
{
    public static readonly string[] DefaultClassNames =
        ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"];

    private const int RecordSize = 1 + 3 * 32 * 32;

    /// <summary>Reads batches (data_batch_1..5.bin / test_batch.bin) from <paramref name="dir"/> (or its cifar-10-batches-bin).</summary>
    public static (InMemoryDataset Train, InMemoryDataset Test) Load(string dir)
    {
        if (!Directory.Exists(dir)) throw new VitException($"CIFAR-10 folder '{dir}' does not exist");
        var inner = Path.Combine(dir, "cifar-10-batches-bin");
        if (!File.Exists(Path.Combine(dir, "test_batch.bin")) && Directory.Exists(inner)) dir = inner;
        var classes = ReadMeta(Path.Combine(dir, "batches.meta.txt"));
        var trainFiles = Enumerable.Range(1, 5).Select(i => Path.Combine(dir, $"data_batch_{i}.bin")).ToArray();
        var missing = trainFiles.Append(Path.Combine(dir, "test_batch.bin")).FirstOrDefault(f => !File.Exists(f));
        if (missing != null) throw new VitException($"CIFAR-10 binary file '{missing}' missing");
        return (ReadBatches(trainFiles, classes, "cifar-10 train"), ReadBatches([Path.Combine(dir, "test_batch.bin")], classes, "cifar-10 test"));
    }

    private static string[] ReadMeta(string path)
    {
        if (!File.Exists(path)) return DefaultClassNames;
        var names = File.ReadAllLines(path).Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();
        return names.Length == 10 ? names : DefaultClassNames;
    }

    public static InMemoryDataset ReadBatches(IReadOnlyList<string> files, IReadOnlyList<string> classes, string name)
    {
        var px = new List<byte[]>();
        var labels = new List<int>();
        foreach (var f in files)
        {
            var raw = File.ReadAllBytes(f);
            if (raw.Length == 0 || raw.Length % RecordSize != 0)
                throw new VitException($"{f}: {raw.Length} bytes is not a whole number of {RecordSize}-byte CIFAR-10 records");
            int n = raw.Length / RecordSize;
            var hwc = new byte[n * 3072];
            for (int r = 0; r < n; r++)
            {
                int o = r * RecordSize;
                int label = raw[o];
                if (label >= classes.Count) throw new VitException($"{f}: record {r} has label {label}, only {classes.Count} classes");
                labels.Add(label);
                for (int i = 0; i < 1024; i++)
                    for (int c = 0; c < 3; c++) hwc[r * 3072 + i * 3 + c] = raw[o + 1 + c * 1024 + i];
            }
            px.Add(hwc);
        }
        return new InMemoryDataset(px.SelectMany(b => b).ToArray(), labels.ToArray(), 32, 32, 3, classes, name);
    }
}
