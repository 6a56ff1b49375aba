using System.Text.Json;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>
/// A ViT configuration recovered from a canonical (timm-named) state dict. Shapes give everything except the head
/// count; that comes from metadata, the source layout (Google q/k/v kernels are (D, H, Dh)), or the model-zoo
/// default for the width (192→3, 384→6, 768→12, 1024→16, 1280→16). A rectangular grid cannot be told from a token
/// count alone: square is assumed unless metadata says otherwise.
/// </summary>
public sealed record DetectedArchitecture
{
    public int PatchSize { get; init; }
    public int InChans { get; init; } = 3;
    public int EmbedDim { get; init; }
    public int Depth { get; init; }
    public int NumHeads { get; init; }
    /// <summary>Where <see cref="NumHeads"/> came from: "metadata", "checkpoint layout", "zoo default" or "dim/64".</summary>
    public string HeadsSource { get; init; } = "";
    public int MlpHidden { get; init; }
    public int NumClasses { get; init; }
    public int GridH { get; init; }
    public int GridW { get; init; }
    public int NumPrefixTokens { get; init; }
    public bool ClassToken { get; init; }
    public bool DistToken { get; init; }
    public bool HasPosEmbed { get; init; } = true;
    /// <summary>Representation (pre-logits) layer width; 0 = none.</summary>
    public int PreLogitsSize { get; init; }
    public bool QkvBias { get; init; } = true;
    public bool FcNorm { get; init; }
    /// <summary>"token" (class token) or "avg" (mean of patch tokens).</summary>
    public string GlobalPool { get; init; } = "token";
    public bool Hybrid { get; init; }
    /// <summary>Hybrid ResNetV2 stage depths (R50 hybrid: 3, 4, 9) and output widths (256, 512, 1024).</summary>
    public int[] HybridStageDepths { get; init; } = [];
    public int[] HybridStageWidths { get; init; } = [];
    public int HybridStemWidth { get; init; }
    /// <summary>Kernel size of patch_embed.proj (1 for the hybrid; the effective patch is in <see cref="PatchSize"/>).</summary>
    public int ProjKernel { get; init; }
    public long ParameterCount { get; init; }

    public int ImgH => GridH * PatchSize;
    public int ImgW => GridW * PatchSize;
    public int NumTokens => GridH * GridW + NumPrefixTokens;

    /// <summary>The timm model-zoo name this matches, when it matches one.</summary>
    public string? ZooName
    {
        get
        {
            string? size = (EmbedDim, Depth) switch
            {
                (192, 12) => "tiny",
                (384, 12) => "small",
                (768, 12) => "base",
                (1024, 24) => "large",
                (1280, 32) => "huge",
                _ => null,
            };
            if (size == null || ImgH != ImgW || InChans != 3) return null;
            if (Hybrid) return size == "base" && HybridStageDepths.SequenceEqual([3, 4, 9]) ? $"vit_base_r50_s16_{ImgH}" : null;
            if (DistToken) return $"deit_{size}_distilled_patch{PatchSize}_{ImgH}";
            return NumClasses == 21843 ? $"vit_{size}_patch{PatchSize}_{ImgH}_in21k" : $"vit_{size}_patch{PatchSize}_{ImgH}";
        }
    }

    /// <summary>Forward GFLOPs per image, 2·MACs of every matmul/conv (patch embed or hybrid convs, qkv, QKᵀ, AV, proj, MLP, pre-logits, heads).</summary>
    public double GFlops
    {
        get
        {
            double macs = 0;
            int n = NumTokens, d = EmbedDim;
            if (Hybrid)
            {
                // TF-SAME convs: output = ceil(input / stride).
                int h = ImgH, w = ImgW;
                h = (h + 1) / 2; w = (w + 1) / 2;
                macs += (double)h * w * HybridStemWidth * InChans * 49;
                h = (h + 1) / 2; w = (w + 1) / 2;
                int cin = HybridStemWidth;
                for (int s = 0; s < HybridStageDepths.Length; s++)
                {
                    int cout = HybridStageWidths[s], mid = cout / 4;
                    for (int b = 0; b < HybridStageDepths[s]; b++)
                    {
                        int stride = s > 0 && b == 0 ? 2 : 1;
                        int oh = (h + stride - 1) / stride, ow = (w + stride - 1) / stride;
                        macs += (double)h * w * cin * mid;       // conv1 1x1
                        macs += (double)oh * ow * mid * mid * 9; // conv2 3x3 (stride here)
                        macs += (double)oh * ow * mid * cout;    // conv3 1x1
                        if (b == 0) macs += (double)oh * ow * cin * cout; // downsample 1x1
                        h = oh; w = ow; cin = cout;
                    }
                }
                macs += (double)GridH * GridW * d * cin * ProjKernel * ProjKernel;
            }
            else macs += (double)GridH * GridW * d * InChans * PatchSize * PatchSize;
            double perBlock = (double)n * d * 3 * d + 2.0 * n * n * d + (double)n * d * d + 2.0 * n * d * MlpHidden;
            macs += perBlock * Depth;
            int feat = d;
            if (PreLogitsSize > 0) { macs += (double)d * PreLogitsSize; feat = PreLogitsSize; }
            macs += (double)feat * NumClasses * (DistToken ? 2 : 1);
            return 2 * macs / 1e9;
        }
    }

    /// <summary>Parameters implied by the configuration (must equal the state dict's count; used as a check).</summary>
    public long EstimateParameterCount()
    {
        long d = EmbedDim, p = 0;
        if (Hybrid)
        {
            long cin = HybridStemWidth;
            p += cin * InChans * 49 + 2 * cin;
            for (int s = 0; s < HybridStageDepths.Length; s++)
            {
                long cout = HybridStageWidths[s], mid = cout / 4;
                for (int b = 0; b < HybridStageDepths[s]; b++)
                {
                    p += cin * mid + 2 * mid + 9 * mid * mid + 2 * mid + mid * cout + 2 * cout;
                    if (b == 0) p += cin * cout + 2 * cout;
                    cin = cout;
                }
            }
            p += d * cin * ProjKernel * ProjKernel + d;
        }
        else p += d * InChans * PatchSize * PatchSize + d;
        if (ClassToken) p += d;
        if (DistToken) p += d;
        if (HasPosEmbed) p += (long)NumTokens * d;
        long block = 4 * d + 3 * d * d + (QkvBias ? 3 * d : 0) + d * d + d + d * MlpHidden + MlpHidden + MlpHidden * d + d;
        p += block * Depth;
        p += 2 * d; // norm or fc_norm
        long feat = d;
        if (PreLogitsSize > 0) { p += d * PreLogitsSize + PreLogitsSize; feat = PreLogitsSize; }
        if (NumClasses > 0) p += (feat * NumClasses + NumClasses) * (DistToken ? 2 : 1);
        return p;
    }

    public string Describe() =>
        $"{(Hybrid ? $"hybrid R{string.Join("-", HybridStageDepths)} + " : "")}ViT dim {EmbedDim}, depth {Depth}, heads {NumHeads} ({HeadsSource}), " +
        $"mlp {MlpHidden}, patch {PatchSize}, in_chans {InChans}, grid {GridH}x{GridW} ({ImgH}x{ImgW} px), tokens {NumTokens}, " +
        $"classes {NumClasses}{(PreLogitsSize > 0 ? $", pre-logits {PreLogitsSize}" : "")}{(DistToken ? ", distilled" : "")}, pool {GlobalPool}" +
        (ZooName != null ? $" [{ZooName}]" : "");

    private static readonly Dictionary<int, int> ZooHeads = new() { [192] = 3, [384] = 6, [768] = 12, [1024] = 16, [1280] = 16 };

    public static DetectedArchitecture Detect(CanonicalStateDict sd, CheckpointMetadata? meta = null, string? path = null)
    {
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in sd.Tensors) byName[k] = v;
        Tensor? Get(string k) => byName.TryGetValue(k, out var t) ? t : null;

        var proj = Get("patch_embed.proj.weight")
            ?? throw new CheckpointException(path, "cannot detect the architecture: no patch embedding ('patch_embed.proj.weight' after name mapping)");
        if (proj.Rank != 4) throw new CheckpointException(path, $"patch_embed.proj.weight has shape {proj.ShapeString}, expected (dim, in_chans, p, p)");
        int dim = proj.Shape[0];
        int depth = 0;
        foreach (var k in byName.Keys)
            if (KeyMaps.BlockIndex(k, "blocks.") is int i) depth = Math.Max(depth, i + 1);

        bool hybrid = Get("patch_embed.backbone.stem.conv.weight") != null;
        int inChans = proj.Shape[1], patch = proj.Shape[2], projKernel = proj.Shape[2];
        var stageDepths = new List<int>();
        var stageWidths = new List<int>();
        int stemWidth = 0;
        if (hybrid)
        {
            var stem = Get("patch_embed.backbone.stem.conv.weight")!;
            inChans = stem.Shape[1];
            stemWidth = stem.Shape[0];
            for (int s = 0; ; s++)
            {
                int blocks = 0;
                foreach (var k in byName.Keys)
                    if (KeyMaps.BlockIndex(k, $"patch_embed.backbone.stages.{s}.blocks.") is int b) blocks = Math.Max(blocks, b + 1);
                if (blocks == 0) break;
                stageDepths.Add(blocks);
                stageWidths.Add(Get($"patch_embed.backbone.stages.{s}.blocks.0.conv3.weight")?.Shape[0] ?? 0);
            }
            // Stem /4, first stage /1, each further stage /2.
            patch = projKernel * 4 * (1 << Math.Max(0, stageDepths.Count - 1));
        }

        int mlp = Get("blocks.0.mlp.fc1.weight")?.Shape[0] ?? 4 * dim;
        bool cls = Get("cls_token") != null, dist = Get("dist_token") != null;
        int prefix = (cls ? 1 : 0) + (dist ? 1 : 0);
        var head = Get("head.weight");
        int classes = head?.Shape[0] ?? 0;
        int pre = Get("pre_logits.fc.weight")?.Shape[0] ?? 0;
        bool fcNorm = Get("fc_norm.weight") != null;

        var pos = Get("pos_embed");
        int gh = 0, gw = 0;
        int? cfgH = meta?.ConfigInt("img_h", "img_height"), cfgW = meta?.ConfigInt("img_w", "img_width");
        int? cfgSize = meta?.ConfigInt("img_size", "image_size");
        if (cfgH is int mh && cfgW is int mw) { gh = mh / patch; gw = mw / patch; }
        else if (cfgSize is int ms) { gh = gw = ms / patch; }
        if (pos != null)
        {
            int gridTokens = pos.Shape[^2] - prefix;
            if (gridTokens < 0) gridTokens = pos.Shape[^2];
            if (gh * gw != gridTokens) (gh, gw) = SquareishGrid(gridTokens);
        }

        int heads;
        string source;
        if (meta?.ConfigInt("num_heads", "num_attention_heads", "heads") is int mhds && mhds > 0 && dim % mhds == 0) { heads = mhds; source = "metadata"; }
        else if (sd.HeadsHint is int hh && hh > 0) { heads = hh; source = "checkpoint layout"; }
        else if (ZooHeads.TryGetValue(dim, out int zh)) { heads = zh; source = "zoo default"; }
        else if (dim % 64 == 0) { heads = dim / 64; source = "dim/64"; }
        else { heads = 1; source = "unknown, 1 assumed"; }

        return new DetectedArchitecture
        {
            PatchSize = patch,
            InChans = inChans,
            EmbedDim = dim,
            Depth = depth,
            NumHeads = heads,
            HeadsSource = source,
            MlpHidden = mlp,
            NumClasses = classes,
            GridH = gh,
            GridW = gw,
            NumPrefixTokens = prefix,
            ClassToken = cls,
            DistToken = dist,
            HasPosEmbed = pos != null,
            PreLogitsSize = pre,
            QkvBias = Get("blocks.0.attn.qkv.bias") != null || depth == 0,
            FcNorm = fcNorm,
            GlobalPool = fcNorm || !cls ? "avg" : "token",
            Hybrid = hybrid,
            HybridStageDepths = stageDepths.ToArray(),
            HybridStageWidths = stageWidths.ToArray(),
            HybridStemWidth = stemWidth,
            ProjKernel = projKernel,
            ParameterCount = sd.Tensors.Sum(t => (long)t.Value.Numel),
        };
    }

    /// <summary>A perfect square when possible, else the factor pair closest to square (h ≤ w).</summary>
    public static (int H, int W) SquareishGrid(int tokens)
    {
        if (tokens <= 0) return (0, 0);
        int r = (int)Math.Round(Math.Sqrt(tokens));
        if (r * r == tokens) return (r, r);
        for (int h = (int)Math.Sqrt(tokens); h >= 1; h--)
            if (tokens % h == 0) return (h, tokens / h);
        return (1, tokens);
    }

    public void WriteJson(Utf8JsonWriter w)
    {
        w.WriteStartObject();
        w.WriteString("zoo_name", ZooName);
        w.WriteNumber("patch_size", PatchSize);
        w.WriteNumber("in_chans", InChans);
        w.WriteNumber("embed_dim", EmbedDim);
        w.WriteNumber("depth", Depth);
        w.WriteNumber("num_heads", NumHeads);
        w.WriteString("heads_source", HeadsSource);
        w.WriteNumber("mlp_hidden", MlpHidden);
        w.WriteNumber("num_classes", NumClasses);
        w.WriteStartArray("grid");
        w.WriteNumberValue(GridH);
        w.WriteNumberValue(GridW);
        w.WriteEndArray();
        w.WriteStartArray("img_size");
        w.WriteNumberValue(ImgH);
        w.WriteNumberValue(ImgW);
        w.WriteEndArray();
        w.WriteNumber("num_tokens", NumTokens);
        w.WriteNumber("num_prefix_tokens", NumPrefixTokens);
        w.WriteBoolean("class_token", ClassToken);
        w.WriteBoolean("dist_token", DistToken);
        w.WriteNumber("pre_logits_size", PreLogitsSize);
        w.WriteBoolean("qkv_bias", QkvBias);
        w.WriteString("global_pool", GlobalPool);
        w.WriteBoolean("fc_norm", FcNorm);
        w.WriteBoolean("hybrid", Hybrid);
        if (Hybrid)
        {
            w.WriteStartArray("hybrid_stage_depths");
            foreach (var x in HybridStageDepths) w.WriteNumberValue(x);
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }
}
