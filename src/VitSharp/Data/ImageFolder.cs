using System.Text;
using VitSharp.Imaging;

namespace VitSharp.Data;

/// <summary>What to do with a file that fails to decode.</summary>
public enum BadImagePolicy
{
    /// <summary>Stop with an error naming the file.</summary>
    Fail,

    /// <summary>Report it (path and reason) and leave it out.</summary>
    Skip,
}

/// <summary>Image files on disk with labels; decoded on demand and converted to RGB (or gray).</summary>
public sealed class ImageFileDataset : IImageDataset
{
    private readonly string[] paths;
    private readonly int[] labels;

    public IReadOnlyList<string> Paths => paths;
    public IReadOnlyList<string> Classes { get; }
    public int Count => paths.Length;

    /// <summary>3 (RGB, the default: gray/RGBA converted like PIL's convert("RGB")) or 1 (gray).</summary>
    public int Channels { get; }

    public DecodeOptions? DecodeOptions { get; init; }

    public ImageFileDataset(IReadOnlyList<string> paths, IReadOnlyList<int> labels, IReadOnlyList<string> classes, int channels = 3)
    {
        if (paths.Count != labels.Count) throw new ArgumentException($"{paths.Count} paths but {labels.Count} labels");
        if (channels is not (1 or 3)) throw new VitException($"image datasets produce 1 or 3 channels, not {channels}");
        this.paths = paths.ToArray();
        this.labels = labels.ToArray();
        Classes = classes;
        Channels = channels;
    }

    public int GetLabel(int index) => labels[index];

    public Image GetImage(int index)
    {
        var img = ImageDecoder.Load(paths[index], DecodeOptions);
        return ConvertChannels.ToChannels(img, Channels);
    }

    public string Describe(int index) => paths[index];

    /// <summary>
    /// Decodes every file once; bad ones are reported through <paramref name="report"/> and dropped (Skip) or
    /// raise an error naming the file (Fail). Returns the dataset of readable files.
    /// </summary>
    public ImageFileDataset Verify(BadImagePolicy policy, Action<string>? report = null)
    {
        var keepPaths = new List<string>();
        var keepLabels = new List<int>();
        for (int i = 0; i < paths.Length; i++)
        {
            try
            {
                ImageDecoder.Load(paths[i], DecodeOptions);
                keepPaths.Add(paths[i]);
                keepLabels.Add(labels[i]);
            }
            catch (VitException e) when (policy == BadImagePolicy.Skip)
            {
                report?.Invoke($"skipping unreadable image {paths[i]}: {e.Message}");
            }
        }
        return new ImageFileDataset(keepPaths, keepLabels, Classes, Channels) { DecodeOptions = DecodeOptions };
    }
}

/// <summary>
/// A root folder with one sub-folder per class, split as the ViT tutorials' <c>read_split_data</c> does:
/// classes = sub-folders sorted by name; per class the image files (jpg/jpeg/png/bmp, any case) sorted by path,
/// then Python's <c>random.sample</c> (after <c>random.seed(seed)</c>, state carried across classes) picks
/// int(n·valRate) for validation. <c>class_indices.json</c> is {"0": "daisy", ...} with indent 4.
/// </summary>
public static class ImageFolder
{
    public static readonly string[] Extensions = [".jpg", ".jpeg", ".png", ".bmp"];

    public sealed record SplitResult(ImageFileDataset Train, ImageFileDataset Validation, IReadOnlyList<string> Classes, IReadOnlyList<int> PerClassCounts);

    /// <summary>Class folder names, sorted ordinally (as Python's list.sort does).</summary>
    public static string[] FindClasses(string root)
    {
        if (string.IsNullOrWhiteSpace(root)) throw new VitException("no data folder given");
        if (File.Exists(root)) throw new VitException($"data folder '{root}' is a file, not a folder of class sub-folders");
        if (!Directory.Exists(root)) throw new VitException($"data folder '{root}' does not exist");
        var classes = Directory.GetDirectories(root).Select(Path.GetFileName).OfType<string>()
            .Where(n => !n.StartsWith('.')).OrderBy(n => n, StringComparer.Ordinal).ToArray();
        if (classes.Length == 0) throw new VitException($"data folder '{root}' has no class sub-folders (expected ROOT/<class>/<image files>)");
        return classes;
    }

    public static bool IsImageFile(string path) =>
        Extensions.Contains(Path.GetExtension(path).ToLowerInvariant());

    /// <summary>The image files of one class folder, sorted ordinally by full path.</summary>
    public static string[] ClassFiles(string root, string cls)
    {
        var dir = Path.Combine(root, cls);
        var files = Directory.GetFiles(dir).Where(IsImageFile).OrderBy(p => p, StringComparer.Ordinal).ToArray();
        if (files.Length == 0)
            throw new VitException($"class folder '{dir}' has no images ({string.Join('/', Extensions)}, any case)");
        return files;
    }

    /// <summary>
    /// Every image under root, labelled by class folder (evaluation, no split). <paramref name="classes"/> are the
    /// model's class names (labels follow them); <paramref name="select"/> keeps only those class folders.
    /// </summary>
    public static ImageFileDataset Load(string root, int channels = 3, IReadOnlyList<string>? classes = null, IReadOnlyList<string>? select = null)
    {
        var found = select != null ? CheckSelection(root, select) : FindClasses(root);
        var names = classes ?? found;
        var paths = new List<string>();
        var labels = new List<int>();
        foreach (var cls in found)
        {
            int label = IndexOf(names, cls) ?? throw new VitException($"class folder '{cls}' in '{root}' is not one of the model's {names.Count} classes");
            foreach (var f in ClassFiles(root, cls)) { paths.Add(f); labels.Add(label); }
        }
        return new ImageFileDataset(paths, labels, names, channels);
    }

    /// <summary>The selected class folders, each checked to exist under root.</summary>
    private static string[] CheckSelection(string root, IReadOnlyList<string> select)
    {
        var found = FindClasses(root);
        if (select.Count == 0) throw new VitException($"data folder '{root}': no classes selected");
        foreach (var cls in select)
            if (!found.Contains(cls, StringComparer.Ordinal)) throw new VitException($"data folder '{root}' has no class folder '{cls}'");
        return [.. select];
    }

    private static int? IndexOf(IReadOnlyList<string> names, string cls)
    {
        for (int i = 0; i < names.Count; i++) if (names[i] == cls) return i;
        // A class name with a path separator (Fashion-MNIST's "T-shirt/top") cannot be a folder name as is.
        for (int i = 0; i < names.Count; i++) if (FolderName(names[i]) == cls) return i;
        return null;
    }

    /// <summary>The folder name used for a class: path separators replaced by '_'.</summary>
    public static string FolderName(string className) => className.Replace('/', '_').Replace('\\', '_');

    /// <summary>
    /// The tutorial split. Writes <paramref name="classIndicesPath"/> when given; reports counts through
    /// <paramref name="log"/>. <paramref name="valRate"/> 0 puts everything in training. <paramref name="select"/>
    /// (class folder names) keeps only those classes, labelled 0..k−1 in that order.
    /// </summary>
    public static SplitResult Split(string root, double valRate = 0.2, ulong seed = 0, Action<string>? log = null,
        string? classIndicesPath = null, int channels = 3, IReadOnlyList<string>? select = null)
    {
        if (valRate is < 0 or >= 1) throw new VitException($"validation rate {valRate} must be in [0, 1)");
        var classes = select != null ? CheckSelection(root, select) : FindClasses(root);
        var rng = new PythonRandom(seed);
        var trainP = new List<string>();
        var trainL = new List<int>();
        var valP = new List<string>();
        var valL = new List<int>();
        var counts = new List<int>();
        for (int c = 0; c < classes.Length; c++)
        {
            var files = ClassFiles(root, classes[c]);
            counts.Add(files.Length);
            var val = new HashSet<int>(rng.SampleIndices(files.Length, (int)(files.Length * valRate)));
            for (int i = 0; i < files.Length; i++)
            {
                if (val.Contains(i)) { valP.Add(files[i]); valL.Add(c); }
                else { trainP.Add(files[i]); trainL.Add(c); }
            }
        }
        if (classIndicesPath != null) WriteClassIndices(classIndicesPath, classes);
        log?.Invoke($"{counts.Sum()} images were found in the dataset ({classes.Length} classes: " +
                    string.Join(", ", classes.Select((n, i) => $"{n} {counts[i]}")) + ").");
        log?.Invoke($"{trainP.Count} images for training.");
        log?.Invoke($"{valP.Count} images for validation.");
        if (trainP.Count == 0) throw new VitException($"data folder '{root}': no images left for training");
        if (valRate > 0 && valP.Count == 0)
            throw new VitException($"data folder '{root}': validation rate {valRate} selects no images (too few per class); add images or use --val-rate 0");
        return new SplitResult(
            new ImageFileDataset(trainP, trainL, classes, channels),
            new ImageFileDataset(valP, valL, classes, channels),
            classes, counts);
    }

    /// <summary>{"0": "daisy", ...} with 4-space indent and ASCII escapes, as Python's json.dumps(..., indent=4).</summary>
    public static string ClassIndicesJson(IReadOnlyList<string> classes)
    {
        var sb = new StringBuilder("{\n");
        for (int i = 0; i < classes.Count; i++)
        {
            sb.Append("    \"").Append(i).Append("\": ").Append(PyJsonString(classes[i]));
            sb.Append(i + 1 < classes.Count ? ",\n" : "\n");
        }
        return sb.Append('}').ToString();
    }

    public static void WriteClassIndices(string path, IReadOnlyList<string> classes)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (dir != null) Directory.CreateDirectory(dir);
        File.WriteAllText(path, ClassIndicesJson(classes));
    }

    /// <summary>Reads class_indices.json back (index → name).</summary>
    public static string[] ReadClassIndices(string path)
    {
        if (!File.Exists(path)) throw new VitException($"class index file '{path}' does not exist");
        System.Text.Json.JsonElement root;
        try { root = System.Text.Json.JsonDocument.Parse(File.ReadAllText(path)).RootElement; }
        catch (System.Text.Json.JsonException e) { throw new VitException($"{path}: not valid JSON ({e.Message})"); }
        if (root.ValueKind != System.Text.Json.JsonValueKind.Object) throw new VitException($"{path}: expected an object {{\"0\": \"name\", ...}}");
        var map = new SortedDictionary<int, string>();
        foreach (var p in root.EnumerateObject())
        {
            if (!int.TryParse(p.Name, out int k) || k < 0) throw new VitException($"{path}: key '{p.Name}' is not a class index");
            map[k] = p.Value.GetString() ?? "";
        }
        if (map.Count == 0 || map.Keys.Last() != map.Count - 1) throw new VitException($"{path}: class indices must be 0..{map.Count - 1}");
        return map.Values.ToArray();
    }

    private static string PyJsonString(string s)
    {
        var sb = new StringBuilder("\"");
        foreach (char ch in s)
        {
            switch (ch)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                default:
                    if (ch < 0x20 || ch > 0x7f) sb.Append("\\u").Append(((int)ch).ToString("x4"));
                    else sb.Append(ch);
                    break;
            }
        }
        return sb.Append('"').ToString();
    }
}
