using System.Text.Json;

namespace VitSharp.Checkpoints;

/// <summary>Preprocessing a checkpoint expects (so predict/eval reproduce training's pipeline).</summary>
public sealed record PreprocessInfo
{
    public float[] Mean { get; init; } = [0.5f, 0.5f, 0.5f];
    public float[] Std { get; init; } = [0.5f, 0.5f, 0.5f];
    /// <summary>Model input (height, width).</summary>
    public int Height { get; init; } = 224;
    public int Width { get; init; } = 224;
    /// <summary>Shorter-side resize before the center crop (e.g. 256 for 224); 0 = resize straight to the input size.</summary>
    public int ResizeShorter { get; init; }
    public string Interpolation { get; init; } = "bilinear";
}

/// <summary>
/// The metadata our own safetensors checkpoints carry, as string entries of the safetensors "__metadata__" map:
/// vitsharp.arch (zoo name), vitsharp.config (model config JSON), vitsharp.classes (JSON array of class names),
/// vitsharp.preprocess (JSON <see cref="PreprocessInfo"/>). Any other entries are kept in <see cref="Extra"/>.
/// </summary>
public sealed class CheckpointMetadata
{
    public const string ArchKey = "vitsharp.arch";
    public const string ConfigKey = "vitsharp.config";
    public const string ClassesKey = "vitsharp.classes";
    public const string PreprocessKey = "vitsharp.preprocess";
    public const string FormatKey = "format";

    private static readonly JsonSerializerOptions Json = new() { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower };

    public string? Arch { get; set; }
    /// <summary>Full model configuration as a JSON object (schema owned by the model code).</summary>
    public string? ConfigJson { get; set; }
    public IReadOnlyList<string>? Classes { get; set; }
    public PreprocessInfo? Preprocess { get; set; }
    public Dictionary<string, string> Extra { get; } = new(StringComparer.Ordinal);

    public bool IsEmpty => Arch == null && ConfigJson == null && Classes == null && Preprocess == null && Extra.Count == 0;

    public Dictionary<string, string> ToDictionary()
    {
        var d = new Dictionary<string, string>(Extra, StringComparer.Ordinal);
        // "format": "pt" makes transformers' safetensors loader accept the file.
        d.TryAdd(FormatKey, "pt");
        if (Arch != null) d[ArchKey] = Arch;
        if (ConfigJson != null) d[ConfigKey] = ConfigJson;
        if (Classes != null) d[ClassesKey] = JsonSerializer.Serialize(Classes);
        if (Preprocess != null) d[PreprocessKey] = JsonSerializer.Serialize(Preprocess, Json);
        return d;
    }

    public static CheckpointMetadata FromDictionary(IReadOnlyDictionary<string, string> d, string? path = null)
    {
        var m = new CheckpointMetadata();
        foreach (var (k, v) in d)
        {
            try
            {
                switch (k)
                {
                    case ArchKey: m.Arch = v; break;
                    case ConfigKey:
                        using (JsonDocument.Parse(v)) { }
                        m.ConfigJson = v;
                        break;
                    case ClassesKey: m.Classes = JsonSerializer.Deserialize<string[]>(v); break;
                    case PreprocessKey: m.Preprocess = JsonSerializer.Deserialize<PreprocessInfo>(v, Json); break;
                    default: m.Extra[k] = v; break;
                }
            }
            catch (JsonException ex)
            {
                throw new CheckpointException(path, $"metadata '{k}' is not valid JSON: {ex.Message}", ex);
            }
        }
        return m;
    }

    /// <summary>An integer from the config JSON (e.g. "num_heads"), when present.</summary>
    public int? ConfigInt(params string[] names)
    {
        if (ConfigJson == null) return null;
        using var doc = JsonDocument.Parse(ConfigJson);
        if (doc.RootElement.ValueKind != JsonValueKind.Object) return null;
        foreach (var n in names)
            if (doc.RootElement.TryGetProperty(n, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt32(out int i)) return i;
        return null;
    }
}
