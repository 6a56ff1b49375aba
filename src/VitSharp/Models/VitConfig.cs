using System.Text.Json;
using System.Text.Json.Serialization;

namespace VitSharp.Models;

public enum GlobalPool { Token, Avg }

public enum PosEmbedKind { Learn, Sincos, None }

public enum GeluKind { Exact, Tanh }

/// <summary>
/// Everything needed to build a <see cref="VisionTransformer"/> (timm's constructor arguments). Stored as JSON in
/// our checkpoints' metadata, so keep it plain data: snake_case keys, enums as lower-case strings.
/// </summary>
public sealed record VitConfig
{
    /// <summary>Architecture name (zoo name) if it came from the zoo; informational.</summary>
    public string? Name { get; init; }
    public int ImgHeight { get; init; } = 224;
    public int ImgWidth { get; init; } = 224;
    public int InChans { get; init; } = 3;
    public int PatchSize { get; init; } = 16;
    public int EmbedDim { get; init; } = 768;
    public int Depth { get; init; } = 12;
    public int NumHeads { get; init; } = 12;
    public double MlpRatio { get; init; } = 4.0;
    public bool QkvBias { get; init; } = true;
    /// <summary>Attention scale override (default head_dim^-0.5).</summary>
    public float? QkScale { get; init; }
    public bool ClassToken { get; init; } = true;
    public GlobalPool GlobalPool { get; init; } = GlobalPool.Token;
    /// <summary>LayerNorm after pooling instead of before it. Null = timm's rule: on for avg pooling, off for token.</summary>
    public bool? FcNorm { get; init; }
    /// <summary>Pre-logits (representation) Linear+Tanh size; null for none (in21k originals: = EmbedDim).</summary>
    public int? RepresentationSize { get; init; }
    /// <summary>DeiT distillation token and second head.</summary>
    public bool Distilled { get; init; }
    /// <summary>Classes of the head; 0 = no head (features), 1 = one output (regression).</summary>
    public int NumClasses { get; init; } = 1000;
    public PosEmbedKind PosEmbed { get; init; } = PosEmbedKind.Learn;
    /// <summary>Dropout after the position embedding, after attention proj and inside the MLP.</summary>
    public float DropRate { get; init; }
    /// <summary>Dropout before the head.</summary>
    public float HeadDropRate { get; init; }
    public float AttnDropRate { get; init; }
    /// <summary>Stochastic depth, growing linearly from 0 (first block) to this (last block).</summary>
    public float DropPathRate { get; init; }
    public float LayerNormEps { get; init; } = 1e-6f;
    public GeluKind Gelu { get; init; } = GeluKind.Exact;
    /// <summary>Blocks per ResNetV2 stage for a hybrid (e.g. [3, 4, 9]); null for a plain ViT.</summary>
    public int[]? HybridLayers { get; init; }
    public int HybridStemWidth { get; init; } = 64;
    /// <summary>Output channels per stage (default 256, 512, 1024, ...).</summary>
    public int[]? HybridWidths { get; init; }
    public int HybridGroups { get; init; } = 32;

    [JsonIgnore] public bool IsHybrid => HybridLayers is { Length: > 0 };
    [JsonIgnore] public int NumPrefixTokens => (ClassToken ? 1 : 0) + (Distilled ? 1 : 0);
    [JsonIgnore] public bool UseFcNorm => FcNorm ?? GlobalPool == GlobalPool.Avg;
    [JsonIgnore] public int HeadDim => EmbedDim / NumHeads;

    /// <summary>Stride from input pixels to one token.</summary>
    [JsonIgnore] public int TokenStride => PatchSize * (IsHybrid ? 4 << (HybridLayers!.Length - 1) : 1);

    /// <summary>Patch grid (rows, columns).</summary>
    [JsonIgnore]
    public (int Rows, int Cols) Grid
    {
        get
        {
            if (!IsHybrid) return (ImgHeight / PatchSize, ImgWidth / PatchSize);
            int s = 4 << (HybridLayers!.Length - 1);
            return ((ImgHeight + s - 1) / s / PatchSize, (ImgWidth + s - 1) / s / PatchSize);
        }
    }

    [JsonIgnore] public int NumPatches => Grid.Rows * Grid.Cols;
    [JsonIgnore] public int NumTokens => NumPatches + NumPrefixTokens;

    /// <summary>Throws a <see cref="VitException"/> naming the first inconsistent setting.</summary>
    public VitConfig Validate()
    {
        void Check(bool ok, string message) { if (!ok) throw new VitException($"ViT config{(Name != null ? $" '{Name}'" : "")}: {message}"); }
        Check(ImgHeight > 0 && ImgWidth > 0, $"image size {ImgHeight}x{ImgWidth} must be positive");
        Check(InChans > 0, $"in_chans {InChans} must be positive");
        Check(PatchSize > 0, $"patch size {PatchSize} must be positive");
        Check(EmbedDim > 0 && Depth >= 0 && NumHeads > 0, $"dim {EmbedDim}, depth {Depth}, heads {NumHeads} must be positive");
        Check(EmbedDim % NumHeads == 0, $"embed dim {EmbedDim} is not divisible by {NumHeads} heads");
        Check(MlpRatio > 0, $"mlp_ratio {MlpRatio} must be positive");
        if (!IsHybrid)
            Check(ImgHeight % PatchSize == 0 && ImgWidth % PatchSize == 0, $"image {ImgHeight}x{ImgWidth} is not divisible into {PatchSize}x{PatchSize} patches");
        else
        {
            int s = 4 << (HybridLayers!.Length - 1);
            Check(((ImgHeight + s - 1) / s) % PatchSize == 0 && ((ImgWidth + s - 1) / s) % PatchSize == 0,
                $"hybrid feature map of a {ImgHeight}x{ImgWidth} image is not divisible into {PatchSize}x{PatchSize} patches");
            Check(HybridWidths == null || HybridWidths.Length == HybridLayers.Length, $"{HybridWidths?.Length} hybrid widths for {HybridLayers.Length} stages");
        }
        Check(GlobalPool != GlobalPool.Token || ClassToken, "global_pool 'token' needs a class token");
        Check(!Distilled || ClassToken, "a distillation token needs a class token");
        Check(!Distilled || GlobalPool == GlobalPool.Token, "distilled models pool the class and distillation tokens ('token' pooling)");
        Check(NumClasses >= 0, $"num_classes {NumClasses} must be >= 0");
        Check(RepresentationSize is null or > 0, $"representation size {RepresentationSize} must be positive");
        Check(DropRate is >= 0 and < 1 && HeadDropRate is >= 0 and < 1 && AttnDropRate is >= 0 and < 1 && DropPathRate is >= 0 and < 1,
            "dropout / drop-path rates must be in [0, 1)");
        Check(LayerNormEps > 0, $"LayerNorm eps {LayerNormEps} must be positive");
        return this;
    }

    public static readonly JsonSerializerOptions JsonOptions = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.SnakeCaseLower) },
        WriteIndented = false,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    public static VitConfig FromJson(string json)
    {
        VitConfig? c;
        try { c = JsonSerializer.Deserialize<VitConfig>(json, JsonOptions); }
        catch (JsonException e) { throw new VitException($"ViT config JSON is invalid: {e.Message}", e); }
        return (c ?? throw new VitException("ViT config JSON is empty (null)")).Validate();
    }

    /// <summary>Value equality including the array members (records compare arrays by reference).</summary>
    public bool SameArchitecture(VitConfig other) => ToJson() == other.ToJson();
}
