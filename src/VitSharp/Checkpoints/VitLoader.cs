using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>Options for loading a checkpoint into a <see cref="VisionTransformer"/>.</summary>
public sealed record VitLoadOptions
{
    /// <summary>Position-embedding resampling when grids differ; null = timm's choice for the format
    /// (bilinear half-pixel for .npz, antialiased bicubic for state dicts).</summary>
    public PosEmbedResampleMode? ResampleMode { get; init; }
    /// <summary>Throw on missing or unexpected keys (shape mismatches always throw).</summary>
    public bool Strict { get; init; }
    /// <summary>Drop (keep freshly initialised) head and distillation head when the class count differs, as fine-tuning does.</summary>
    public bool ResetHeadOnClassMismatch { get; init; } = true;
}

/// <summary>What loading did: the file, its naming, and missing/unexpected/resampled/dropped keys.</summary>
public sealed class VitLoadReport
{
    public required string Path { get; init; }
    public required CheckpointFormat Format { get; init; }
    public required CheckpointNaming Naming { get; init; }
    public List<string> Loaded { get; } = [];
    public List<string> Missing { get; } = [];
    public List<string> Unexpected { get; } = [];
    /// <summary>"pos_embed: 4x4 -> 6x8 (TimmNpzBilinear)", "patch_embed.proj.weight: 3 -> 1 input channels".</summary>
    public List<string> Adapted { get; } = [];
    /// <summary>Checkpoint keys deliberately not loaded (head on class-count change, pre-logits the model lacks).</summary>
    public List<string> Dropped { get; } = [];

    public override string ToString()
    {
        var parts = new List<string> { $"loaded {Loaded.Count} tensors from {Path} ({Format}, {Naming} names)" };
        if (Adapted.Count > 0) parts.Add("adapted: " + string.Join("; ", Adapted));
        if (Dropped.Count > 0) parts.Add("dropped (re-initialised): " + string.Join(", ", Dropped));
        if (Missing.Count > 0) parts.Add("missing: " + string.Join(", ", Missing));
        if (Unexpected.Count > 0) parts.Add("unexpected: " + string.Join(", ", Unexpected));
        return string.Join(Environment.NewLine, parts);
    }
}

/// <summary>
/// Builds and loads VisionTransformers from any checkpoint: format and naming detected from the file, architecture
/// from metadata (our safetensors) or from the shapes, overridable by a zoo name. Applies timm's loading rules:
/// position embedding resampled when the grid differs, head dropped when the class count differs, pre-logits dropped
/// when the model has none, Google GAP 'encoder_norm' moved to fc_norm, input-conv channels adapted (sum for 1 channel).
/// </summary>
public static class VitLoader
{
    /// <summary>The model configuration a checkpoint describes (metadata first, then detection).</summary>
    public static VitConfig ConfigFor(Checkpoint ck, CanonicalStateDict? canonical = null)
    {
        if (ck.Metadata.ConfigJson != null) return VitConfig.FromJson(ck.Metadata.ConfigJson);
        canonical ??= KeyMaps.ToCanonical(ck.Tensors);
        var a = DetectedArchitecture.Detect(canonical, ck.Metadata, ck.Path);
        return ToVitConfig(a, canonical.Naming);
    }

    public static VitConfig ToVitConfig(DetectedArchitecture a, CheckpointNaming naming = CheckpointNaming.Timm)
    {
        var pool = a.ClassToken && !a.FcNorm ? GlobalPool.Token : GlobalPool.Avg;
        return new VitConfig
        {
            Name = a.ZooName,
            ImgHeight = a.ImgH,
            ImgWidth = a.ImgW,
            InChans = a.InChans,
            PatchSize = a.Hybrid ? a.ProjKernel : a.PatchSize,
            EmbedDim = a.EmbedDim,
            Depth = a.Depth,
            NumHeads = a.NumHeads,
            MlpRatio = (double)a.MlpHidden / a.EmbedDim,
            QkvBias = a.QkvBias,
            ClassToken = a.ClassToken,
            GlobalPool = pool,
            FcNorm = pool == GlobalPool.Avg ? a.FcNorm : null,
            RepresentationSize = a.PreLogitsSize > 0 ? a.PreLogitsSize : null,
            Distilled = a.DistToken,
            NumClasses = a.NumClasses,
            PosEmbed = a.HasPosEmbed ? PosEmbedKind.Learn : PosEmbedKind.None,
            // HF's ViTConfig default layer_norm_eps is 1e-12; everyone else uses 1e-6.
            LayerNormEps = naming == CheckpointNaming.HuggingFace ? 1e-12f : 1e-6f,
            HybridLayers = a.Hybrid ? a.HybridStageDepths : null,
            HybridStemWidth = a.Hybrid ? a.HybridStemWidth : 64,
            HybridWidths = a.Hybrid ? a.HybridStageWidths : null,
        }.Validate();
    }

    /// <summary>Creates a model for <paramref name="path"/>: from <paramref name="arch"/> (zoo name) when given,
    /// else from the checkpoint; <paramref name="overrides"/> can change e.g. the class count or image size.</summary>
    public static (VisionTransformer Model, VitLoadReport Report) Create(string path, string? arch = null,
        Func<VitConfig, VitConfig>? overrides = null, VitLoadOptions? options = null, Rng? rng = null)
    {
        var ck = CheckpointFile.Load(path);
        var canonical = KeyMaps.ToCanonical(ck.Tensors);
        var cfg = arch != null ? ModelZoo.GetConfig(arch) : ConfigFor(ck, canonical);
        if (overrides != null) cfg = overrides(cfg).Validate();
        var model = new VisionTransformer(cfg, rng ?? new Rng(0));
        var report = LoadInto(model, ck, canonical, options);
        return (model, report);
    }

    public static VitLoadReport LoadInto(VisionTransformer model, string path, VitLoadOptions? options = null)
    {
        var ck = CheckpointFile.Load(path);
        return LoadInto(model, ck, KeyMaps.ToCanonical(ck.Tensors), options);
    }

    public static VitLoadReport LoadInto(VisionTransformer model, Checkpoint ck, CanonicalStateDict canonical, VitLoadOptions? options = null)
    {
        options ??= new VitLoadOptions();
        var report = new VitLoadReport { Path = ck.Path, Format = ck.Format, Naming = canonical.Naming };
        var own = model.StateDict();
        var src = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in canonical.Tensors) src[k] = v;
        int[]? OwnShape(string k) => own.TryGetValue(k, out var t) ? t.Shape : null;
        bool Differs(string k) => src.TryGetValue(k, out var s) && OwnShape(k) is { } o && !o.AsSpan().SequenceEqual(s.Shape);

        // Input conv: timm's adapt_input_conv (sum RGB for 1 channel, else repeat and rescale).
        const string convKey = "patch_embed.proj.weight";
        string firstConv = own.ContainsKey("patch_embed.backbone.stem.conv.weight") ? "patch_embed.backbone.stem.conv.weight" : convKey;
        if (Differs(firstConv) && OwnShape(firstConv) is { Length: 4 } os && src[firstConv].Rank == 4
            && os[0] == src[firstConv].Shape[0] && os[2] == src[firstConv].Shape[2] && os[3] == src[firstConv].Shape[3])
        {
            var w = src[firstConv];
            src[firstConv] = AdaptInputConv(w, os[1]);
            report.Adapted.Add($"{firstConv}: {w.Shape[1]} -> {os[1]} input channels");
        }

        // Position embedding: resample the grid when it differs.
        if (Differs("pos_embed") && model.PosEmbed != null)
        {
            var pe = src["pos_embed"];
            int srcPrefix = (src.ContainsKey("cls_token") ? 1 : 0) + (src.ContainsKey("dist_token") ? 1 : 0);
            int modelPrefix = model.Config.NumPrefixTokens;
            var target = OwnShape("pos_embed")!;
            if (pe.Rank == 3 && pe.Shape[2] == target[2] && pe.Shape[1] >= srcPrefix)
            {
                if (srcPrefix > 0 && modelPrefix == 0)
                {
                    pe = pe.Narrow(1, srcPrefix, pe.Shape[1] - srcPrefix).Clone();
                    srcPrefix = 0;
                }
                if (srcPrefix == modelPrefix)
                {
                    int gridTokens = pe.Shape[1] - srcPrefix;
                    var old = DetectedArchitecture.SquareishGrid(gridTokens);
                    var grid = model.Config.Grid;
                    var mode = options.ResampleMode ?? (ck.Format == CheckpointFormat.Npz ? PosEmbedResampleMode.TimmNpzBilinear : PosEmbedResampleMode.TimmBicubicAntialias);
                    src["pos_embed"] = PosEmbed.Resample(pe, srcPrefix, old, (grid.Rows, grid.Cols), mode);
                    report.Adapted.Add($"pos_embed: grid {old.H}x{old.W} -> {grid.Rows}x{grid.Cols} ({mode})");
                }
            }
        }

        // Head: dropped when the class count differs (or the model has none); kept freshly initialised.
        foreach (var head in new[] { "head", "head_dist" })
        {
            bool modelHas = own.ContainsKey(head + ".weight");
            bool classesDiffer = modelHas && Differs(head + ".weight") && options.ResetHeadOnClassMismatch;
            if (src.ContainsKey(head + ".weight") && (!modelHas || classesDiffer))
                foreach (var k in new[] { head + ".weight", head + ".bias" })
                    if (src.Remove(k)) report.Dropped.Add(k);
        }
        // Pre-logits the model does not have (current timm drops them).
        if (!own.ContainsKey("pre_logits.fc.weight"))
            foreach (var k in new[] { "pre_logits.fc.weight", "pre_logits.fc.bias" })
                if (src.Remove(k)) report.Dropped.Add(k);
        // Google 'gap' checkpoints: encoder_norm belongs to fc_norm when the model pools before its final norm.
        if (own.ContainsKey("fc_norm.weight") && !own.ContainsKey("norm.weight") && !src.ContainsKey("fc_norm.weight") && src.ContainsKey("norm.weight"))
        {
            foreach (var p in new[] { "weight", "bias" })
                if (src.Remove("norm." + p, out var t)) src["fc_norm." + p] = t;
            report.Adapted.Add("norm -> fc_norm");
        }

        var result = model.LoadStateDict(src, strict: false);
        if (result.Mismatched.Count > 0)
            throw new CheckpointException(ck.Path, "shape mismatch: " + string.Join("; ", result.Mismatched.Select(m => m.ToString())));
        report.Loaded.AddRange(result.Loaded);
        report.Missing.AddRange(result.Missing.Where(k => !report.Dropped.Any(d => d.Split('.')[0] == k.Split('.')[0])));
        report.Unexpected.AddRange(result.Unexpected);
        if (options.Strict && (report.Missing.Count > 0 || report.Unexpected.Count > 0))
            throw new CheckpointException(ck.Path, $"does not match the model: missing [{string.Join(", ", report.Missing.Take(8))}], unexpected [{string.Join(", ", report.Unexpected.Take(8))}]");
        return report;
    }

    /// <summary>timm adapt_input_conv: (O, I, kh, kw) → (O, n, kh, kw).</summary>
    internal static Tensor AdaptInputConv(Tensor w, int inChans)
    {
        int o = w.Shape[0], i = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
        var src = w.Contiguous().ToArray();
        var r = Tensor.Zeros(o, inChans, kh, kw);
        var dst = r.AsSpan();
        int k = kh * kw;
        if (inChans == 1)
        {
            for (int a = 0; a < o; a++)
                for (int c = 0; c < i; c++)
                    for (int j = 0; j < k; j++) dst[a * k + j] += src[(a * i + c) * k + j];
            return r;
        }
        // Repeat the input channels cyclically and rescale so activations keep their magnitude.
        float scale = (float)i / inChans;
        for (int a = 0; a < o; a++)
            for (int c = 0; c < inChans; c++)
                for (int j = 0; j < k; j++) dst[(a * inChans + c) * k + j] = src[(a * i + c % i) * k + j] * scale;
        return r;
    }
}
