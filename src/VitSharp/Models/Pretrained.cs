using VitSharp.Autograd;
using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>Options for <see cref="Pretrained.Load"/>.</summary>
public sealed record PretrainedOptions
{
    /// <summary>Position-embedding resampling kernel when the grid differs. Null = the timm default for the
    /// format: bilinear half-pixel for .npz, antialiased bicubic for state dicts (.pth/.safetensors).</summary>
    public PosEmbedResampleMode? ResampleMode { get; init; }
    /// <summary>The checkpoint's patch grid (rows, cols) when it is not square and the file does not say.</summary>
    public (int H, int W)? SourceGrid { get; init; }
    /// <summary>Drop head / head_dist (and a pre-logits layer the model lacks) when shapes differ, as fine-tuning
    /// does; when false such differences are mismatches.</summary>
    public bool DropMismatchedHead { get; init; } = true;
    /// <summary>Throw when, after resampling and head dropping, anything is still missing, unexpected or mismatched.</summary>
    public bool Strict { get; init; }
}

/// <summary>What <see cref="Pretrained.Load"/> did.</summary>
public sealed record PretrainedReport(
    string Path,
    CheckpointFormat Format,
    CheckpointNaming Naming,
    IReadOnlyList<string> Loaded,
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<Nn.ShapeMismatch> Mismatched,
    IReadOnlyList<string> Resampled,
    IReadOnlyList<string> Dropped,
    IReadOnlyList<string> Adapted)
{
    /// <summary>One line per non-empty category, for printing.</summary>
    public IEnumerable<string> Describe()
    {
        yield return $"loaded {Loaded.Count} tensors from {System.IO.Path.GetFileName(Path)} ({Format}, {Naming} names)";
        if (Resampled.Count > 0) yield return "resampled: " + string.Join(", ", Resampled);
        if (Adapted.Count > 0) yield return "adapted: " + string.Join(", ", Adapted);
        if (Dropped.Count > 0) yield return "dropped (re-initialised): " + string.Join(", ", Dropped);
        if (Missing.Count > 0) yield return "missing: " + string.Join(", ", Missing);
        if (Unexpected.Count > 0) yield return "unexpected: " + string.Join(", ", Unexpected);
        if (Mismatched.Count > 0) yield return "shape mismatch: " + string.Join("; ", Mismatched);
    }
}

/// <summary>
/// Loads pretrained weights of any supported file (Google .npz, timm/torchvision .pth, timm/HF .safetensors, our
/// own checkpoints) into a <see cref="VisionTransformer"/>: names mapped to timm's, position embedding resampled
/// when the grid differs, heads dropped when the class count differs, input convs adapted to another channel count.
/// </summary>
public static class Pretrained
{
    /// <summary>Loads <paramref name="path"/> into <paramref name="model"/> (in place).</summary>
    public static PretrainedReport Load(VisionTransformer model, string path, PretrainedOptions? options = null)
    {
        var ckpt = CheckpointFile.Load(path);
        return Load(model, ckpt, options);
    }

    public static PretrainedReport Load(VisionTransformer model, Checkpoint ckpt, PretrainedOptions? options = null)
    {
        options ??= new PretrainedOptions();
        var canon = KeyMaps.ToCanonical(ckpt.Tensors);
        var source = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (k, v) in canon.Tensors)
            if (source.TryAdd(k, v)) order.Add(k);
        var own = model.StateDict();
        var resampled = new List<string>();
        var dropped = new List<string>();
        var adapted = new List<string>();

        // Google 'gap' files keep their encoder norm as norm.*; a timm avg-pool model has it as fc_norm (timm's npz loader does the same).
        if (!own.ContainsKey("norm.weight") && own.ContainsKey("fc_norm.weight") && !source.ContainsKey("fc_norm.weight")
            && source.ContainsKey("norm.weight"))
        {
            Rename(source, order, "norm.weight", "fc_norm.weight");
            Rename(source, order, "norm.bias", "fc_norm.bias");
            adapted.Add("norm -> fc_norm");
        }

        // Position embedding on another grid.
        if (source.TryGetValue("pos_embed", out var pe) && own.TryGetValue("pos_embed", out var mine) && !pe.Shape.AsSpan().SequenceEqual(mine.Shape))
        {
            if (pe.Rank != 3 || pe.Shape[2] != mine.Shape[2])
                throw new VitException($"{ckpt.Path}: pos_embed {pe.ShapeString} cannot be resampled to {mine.ShapeString} (embedding widths differ)");
            int prefix = model.NumPrefixTokens;
            int srcPrefix = (source.ContainsKey("cls_token") ? 1 : 0) + (source.ContainsKey("dist_token") ? 1 : 0);
            if (srcPrefix > prefix && prefix == 0 && pe.Shape[1] > srcPrefix)
            {
                // A class-token checkpoint into a model without prefix tokens: keep only the grid rows.
                pe = pe.Narrow(1, srcPrefix, pe.Shape[1] - srcPrefix).Contiguous();
                resampled.Add($"pos_embed: dropped {srcPrefix} prefix row(s)");
            }
            var oldGrid = options.SourceGrid ?? SourceGridOf(ckpt, pe.Shape[1] - prefix);
            if (oldGrid.H * oldGrid.W + prefix != pe.Shape[1])
                throw new VitException($"{ckpt.Path}: pos_embed {pe.ShapeString} does not hold {prefix} prefix token(s) + a {oldGrid.H}x{oldGrid.W} grid");
            var newGrid = (model.PatchEmbed.GridHeight, model.PatchEmbed.GridWidth);
            var mode = options.ResampleMode ?? (ckpt.Format == CheckpointFormat.Npz ? PosEmbedResampleMode.TimmNpzBilinear : PosEmbedResampleMode.TimmBicubicAntialias);
            source["pos_embed"] = PosEmbed.Resample(pe, prefix, oldGrid, newGrid, mode);
            resampled.Add($"pos_embed {oldGrid.H}x{oldGrid.W} -> {newGrid.Item1}x{newGrid.Item2} ({mode})");
        }

        // Input convolution for another channel count (timm adapt_input_conv: 1 channel = sum over RGB, N = tiled and scaled 3/N).
        foreach (var key in new[] { "patch_embed.proj.weight", "patch_embed.backbone.stem.conv.weight" })
        {
            if (key.Contains("backbone", StringComparison.Ordinal) != model.Config.IsHybrid) continue;
            if (source.TryGetValue(key, out var w) && own.TryGetValue(key, out var ow) && w.Rank == 4 && ow.Rank == 4
                && w.Shape[1] != ow.Shape[1] && w.Shape[0] == ow.Shape[0] && w.Shape[2] == ow.Shape[2] && w.Shape[3] == ow.Shape[3])
            {
                source[key] = AdaptInputConv(w, ow.Shape[1]);
                adapted.Add($"{key} in_chans {w.Shape[1]} -> {ow.Shape[1]}");
            }
        }

        // Heads: drop when the class count differs (fine-tuning); pre-logits the model does not have are dropped too.
        if (options.DropMismatchedHead)
        {
            foreach (var head in new[] { "head", "head_dist" })
            {
                var wk = head + ".weight";
                if (!source.TryGetValue(wk, out var hw)) continue;
                bool differs = !own.TryGetValue(wk, out var mw) || !hw.Shape.AsSpan().SequenceEqual(mw.Shape);
                if (differs) DropPrefix(source, order, head + ".", dropped);
            }
            if (source.ContainsKey("pre_logits.fc.weight")
                && (!own.TryGetValue("pre_logits.fc.weight", out var pw) || !pw.Shape.AsSpan().SequenceEqual(source["pre_logits.fc.weight"].Shape)))
                DropPrefix(source, order, "pre_logits.", dropped);
        }

        var ordered = new OrderedView(order, source);
        var r = model.LoadStateDict(ordered, strict: false);
        // Keys dropped on purpose keep the model's fresh values; they are reported as dropped, not missing.
        var missing = r.Missing.Where(k => !dropped.Contains(k)).ToList();
        var report = new PretrainedReport(ckpt.Path, ckpt.Format, canon.Naming, r.Loaded, missing, r.Unexpected, r.Mismatched, resampled, dropped, adapted);
        if (options.Strict && (missing.Count > 0 || r.Unexpected.Count > 0 || r.Mismatched.Count > 0))
            throw new VitException($"{ckpt.Path}: strict load failed: " + string.Join("; ", report.Describe().Skip(1)));
        return report;
    }

    /// <summary>
    /// Builds a model for a checkpoint and loads it: the config stored in our own checkpoints, else the zoo
    /// architecture <paramref name="arch"/>, else the architecture detected from the tensors' shapes.
    /// </summary>
    public static (VisionTransformer Model, PretrainedReport Report) Create(string path, string? arch = null,
        Func<VitConfig, VitConfig>? overrides = null, PretrainedOptions? options = null)
        => Create(CheckpointFile.Load(path), arch, overrides, options);

    /// <summary>As <see cref="Create(string, string?, Func{VitConfig, VitConfig}?, PretrainedOptions?)"/>, for a checkpoint already read.</summary>
    public static (VisionTransformer Model, PretrainedReport Report) Create(Checkpoint ckpt, string? arch = null,
        Func<VitConfig, VitConfig>? overrides = null, PretrainedOptions? options = null)
    {
        string path = ckpt.Path;
        VitConfig config;
        if (arch != null) config = ModelZoo.GetConfig(arch);
        else if (ckpt.Metadata.ConfigJson != null) config = VitConfig.FromJson(ckpt.Metadata.ConfigJson);
        else if (ckpt.Metadata.Arch != null && ModelZoo.Contains(ckpt.Metadata.Arch)) config = ModelZoo.GetConfig(ckpt.Metadata.Arch);
        else
        {
            var canon = KeyMaps.ToCanonical(ckpt.Tensors);
            config = FromDetected(DetectedArchitecture.Detect(canon, ckpt.Metadata, path), canon.Naming);
        }
        if (overrides != null) config = overrides(config).Validate();
        // Random init of a large model costs seconds and is overwritten by the load; only tensors the
        // checkpoint does not provide (dropped heads, missing keys) take values from a seeded fresh init.
        var model = new VisionTransformer(config, initialize: false);
        var report = Load(model, ckpt, options);
        var fill = report.Missing.Concat(report.Dropped).Concat(report.Mismatched.Select(m => m.Key)).ToHashSet(StringComparer.Ordinal);
        if (fill.Count > 0)
        {
            var fresh = new VisionTransformer(config, new Rng(0)).StateDict();
            var own = model.StateDict();
            using var _ = Graph.NoGrad();
            foreach (var k in fill)
                if (own.TryGetValue(k, out var dst) && fresh.TryGetValue(k, out var src)) dst.CopyFrom(src);
        }
        return (model, report);
    }

    /// <summary>A model configuration from shapes found in a checkpoint. Pooling: class token unless the file has
    /// an fc_norm or no class token; Hugging Face files get HF's LayerNorm eps 1e-12.</summary>
    public static VitConfig FromDetected(DetectedArchitecture a, CheckpointNaming naming = CheckpointNaming.Timm)
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
            Distilled = a.DistToken,
            GlobalPool = pool,
            FcNorm = pool == GlobalPool.Avg ? a.FcNorm : null,
            RepresentationSize = a.PreLogitsSize > 0 ? a.PreLogitsSize : null,
            NumClasses = a.NumClasses,
            PosEmbed = a.HasPosEmbed ? PosEmbedKind.Learn : PosEmbedKind.None,
            LayerNormEps = naming == CheckpointNaming.HuggingFace ? 1e-12f : 1e-6f,
            HybridLayers = a.Hybrid ? a.HybridStageDepths : null,
            HybridWidths = a.Hybrid ? a.HybridStageWidths : null,
            HybridStemWidth = a.Hybrid ? a.HybridStemWidth : 64,
        }.Validate();
    }

    /// <summary>Writes a self-describing safetensors checkpoint: the weights plus arch name, config JSON and,
    /// when given, class names and preprocessing.</summary>
    public static void Save(VisionTransformer model, string path, IReadOnlyList<string>? classes = null, PreprocessInfo? preprocess = null)
    {
        var meta = new CheckpointMetadata
        {
            Arch = model.Config.Name,
            ConfigJson = model.Config.ToJson(),
            Classes = classes,
            Preprocess = preprocess,
        };
        CheckpointFile.Save(path, model.StateDict(), meta);
    }

    private static (int H, int W) SourceGridOf(Checkpoint ckpt, int patches)
    {
        if (ckpt.Metadata.ConfigJson != null)
        {
            try
            {
                var c = VitConfig.FromJson(ckpt.Metadata.ConfigJson);
                if (c.NumPatches == patches) return c.Grid;
            }
            catch (VitException) { /* fall back to the shape */ }
        }
        int s = (int)Math.Round(Math.Sqrt(patches));
        // Not a square: the factor pair closest to square (a guess; SourceGrid overrides it).
        return s * s == patches ? (s, s) : DetectedArchitecture.SquareishGrid(patches);
    }

    /// <summary>timm adapt_input_conv for a checkpoint conv trained on RGB.</summary>
    public static Tensor AdaptInputConv(Tensor w, int inChans)
    {
        int o = w.Shape[0], c = w.Shape[1], kh = w.Shape[2], kw = w.Shape[3];
        var src = w.Contiguous().ToArray();
        var dst = new float[o * inChans * kh * kw];
        int k = kh * kw;
        if (inChans == 1)
        {
            for (int i = 0; i < o; i++)
                for (int ch = 0; ch < c; ch++)
                    for (int j = 0; j < k; j++) dst[i * k + j] += src[(i * c + ch) * k + j];
        }
        else
        {
            if (c != 3) throw new VitException($"cannot adapt a {c}-channel input conv to {inChans} channels (only RGB sources are adapted)");
            float scale = 3f / inChans;
            for (int i = 0; i < o; i++)
                for (int ch = 0; ch < inChans; ch++)
                    for (int j = 0; j < k; j++) dst[(i * inChans + ch) * k + j] = src[(i * c + ch % c) * k + j] * scale;
        }
        return Tensor.FromArray(dst, o, inChans, kh, kw);
    }

    private static void Rename(Dictionary<string, Tensor> d, List<string> order, string from, string to)
    {
        if (!d.Remove(from, out var t)) return;
        d[to] = t;
        order[order.IndexOf(from)] = to;
    }

    private static void DropPrefix(Dictionary<string, Tensor> d, List<string> order, string prefix, List<string> dropped)
    {
        foreach (var k in order.Where(k => k.StartsWith(prefix, StringComparison.Ordinal)).ToList())
        {
            d.Remove(k);
            order.Remove(k);
            dropped.Add(k);
        }
    }

    /// <summary>The source dict in checkpoint order (so reports list keys as the file has them).</summary>
    private sealed class OrderedView(List<string> order, Dictionary<string, Tensor> map) : IReadOnlyDictionary<string, Tensor>
    {
        public Tensor this[string key] => map[key];
        public IEnumerable<string> Keys => order;
        public IEnumerable<Tensor> Values => order.Select(k => map[k]);
        public int Count => order.Count;
        public bool ContainsKey(string key) => map.ContainsKey(key);
        public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) => map.TryGetValue(key, out value);
        public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => order.Select(k => new KeyValuePair<string, Tensor>(k, map[k])).GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}
