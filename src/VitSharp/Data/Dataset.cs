using VitSharp.Imaging;

namespace VitSharp.Data;

/// <summary>A labelled image collection. Implementations must be safe to read from several threads at once.</summary>
public interface IImageDataset
{
    int Count { get; }

    /// <summary>Class names; index = label.</summary>
    IReadOnlyList<string> Classes { get; }

    int GetLabel(int index);

    /// <summary>The decoded 8-bit image (may throw <see cref="InvalidImageException"/> for a bad file).</summary>
    Image GetImage(int index);

    /// <summary>Where a sample came from, for messages (a path, or "fashion-mnist train #12").</summary>
    string Describe(int index);
}

/// <summary>Fixed-size images held in one byte array (IDX, CIFAR, embedded sets).</summary>
public sealed class InMemoryDataset : IImageDataset
{
    private readonly byte[] pixels;
    private readonly int[] labels;
    private readonly string name;

    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }
    public int Count => labels.Length;
    public IReadOnlyList<string> Classes { get; }

    /// <summary>The HWC bytes of every image, back to back.</summary>
    public ReadOnlyMemory<byte> Pixels => pixels;
    public IReadOnlyList<int> Labels => labels;

    public InMemoryDataset(byte[] pixels, int[] labels, int width, int height, int channels, IReadOnlyList<string> classes, string name)
    {
        long need = (long)labels.Length * width * height * channels;
        if (pixels.Length != need) throw new VitException($"{name}: {pixels.Length} pixel bytes for {labels.Length} images of {width}x{height}x{channels}");
        foreach (var l in labels)
            if ((uint)l >= (uint)classes.Count) throw new VitException($"{name}: label {l} out of range for {classes.Count} classes");
        this.pixels = pixels; this.labels = labels; this.name = name;
        Width = width; Height = height; Channels = channels; Classes = classes;
    }

    public int GetLabel(int index) => labels[index];

    public Image GetImage(int index)
    {
        int n = Width * Height * Channels;
        return new Image(Width, Height, Channels, pixels.AsSpan(index * n, n).ToArray());
    }

    public string Describe(int index) => $"{name} #{index}";

    /// <summary>A subset by indices (e.g. classes 0–4 for the transfer-learning example), optionally relabelled.</summary>
    public InMemoryDataset Subset(IReadOnlyList<int> indices, Func<int, int>? relabel = null, IReadOnlyList<string>? classes = null)
    {
        int n = Width * Height * Channels;
        var px = new byte[(long)indices.Count * n];
        var lb = new int[indices.Count];
        for (int i = 0; i < indices.Count; i++)
        {
            pixels.AsSpan(indices[i] * n, n).CopyTo(px.AsSpan(i * n));
            lb[i] = relabel?.Invoke(labels[indices[i]]) ?? labels[indices[i]];
        }
        return new InMemoryDataset(px, lb, Width, Height, Channels, classes ?? Classes, name);
    }

    /// <summary>Only the samples whose label is in <paramref name="keep"/>, relabelled 0..k−1 in that order.</summary>
    public InMemoryDataset FilterClasses(IReadOnlyList<int> keep)
    {
        var map = new Dictionary<int, int>();
        for (int i = 0; i < keep.Count; i++) map[keep[i]] = i;
        var idx = Enumerable.Range(0, Count).Where(i => map.ContainsKey(labels[i])).ToArray();
        return Subset(idx, l => map[l], keep.Select(k => Classes[k]).ToArray());
    }
}
