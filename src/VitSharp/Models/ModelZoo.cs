using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>
/// Named architectures as timm registers them (vision_transformer.py, vision_transformer_hybrid.py, deit.py),
/// plus the original in21k variants (21843 classes with a pre-logits layer of width D).
/// </summary>
public static class ModelZoo
{
    private static readonly (string Size, int Dim, int Depth, int Heads)[] Sizes =
    [
        ("tiny", 192, 12, 3), ("small", 384, 12, 6), ("base", 768, 12, 12), ("large", 1024, 24, 16), ("huge", 1280, 32, 16),
    ];

    // (size, patch, image sizes) triples that timm registers for the classic family.
    private static readonly (string Size, int Patch, int[] Images)[] Plain =
    [
        ("tiny", 16, [224, 384]),
        ("small", 32, [224, 384]), ("small", 16, [224, 384]), ("small", 8, [224]),
        ("base", 32, [224, 384]), ("base", 16, [224, 384]), ("base", 8, [224]),
        ("large", 32, [224, 384]), ("large", 16, [224, 384]), ("large", 14, [224]),
        ("huge", 14, [224]),
    ];

    // in21k originals (old timm names): 224 only.
    private static readonly (string Size, int Patch)[] In21k =
    [
        ("tiny", 16), ("small", 32), ("small", 16), ("base", 32), ("base", 16), ("base", 8), ("large", 32), ("large", 16), ("huge", 14),
    ];

    private static readonly Dictionary<string, VitConfig> Registry = Build();

    private static Dictionary<string, VitConfig> Build()
    {
        var r = new Dictionary<string, VitConfig>(StringComparer.Ordinal);
        VitConfig Sized(string size, int patch, int img)
        {
            var s = Sizes.First(e => e.Size == size);
            return new VitConfig { ImgHeight = img, ImgWidth = img, PatchSize = patch, EmbedDim = s.Dim, Depth = s.Depth, NumHeads = s.Heads };
        }
        void Add(string name, VitConfig c) => r.Add(name, c with { Name = name });

        foreach (var (size, patch, images) in Plain)
            foreach (var img in images)
                Add($"vit_{size}_patch{patch}_{img}", Sized(size, patch, img));
        foreach (var (size, patch) in In21k)
        {
            var c = Sized(size, patch, 224);
            Add($"vit_{size}_patch{patch}_224_in21k", c with { NumClasses = 21843, RepresentationSize = c.EmbedDim });
        }

        // DeiT (deit.py): same transformer as ViT; distilled variants add dist_token + head_dist.
        foreach (var size in new[] { "tiny", "small", "base" })
        {
            Add($"deit_{size}_patch16_224", Sized(size, 16, 224));
            Add($"deit_{size}_distilled_patch16_224", Sized(size, 16, 224) with { Distilled = true });
        }
        Add("deit_base_patch16_384", Sized("base", 16, 384));
        Add("deit_base_distilled_patch16_384", Sized("base", 16, 384) with { Distilled = true });

        // Hybrids: ResNetV2 (StdConv SAME, GN 32) feature map, then a 1x1 patch embedding.
        foreach (var img in new[] { 224, 384 })
        {
            Add($"vit_base_r50_s16_{img}", Sized("base", 1, img) with { HybridLayers = [3, 4, 9] });
            Add($"vit_small_r26_s32_{img}", Sized("small", 1, img) with { HybridLayers = [2, 2, 2, 2] });
            Add($"vit_large_r50_s32_{img}", Sized("large", 1, img) with { HybridLayers = [3, 4, 6, 3] });
        }
        // Small 28×28 single-channel models for MNIST-like data (the peers' "MNIST-ViT" benchmark config and the
        // demo's model, patch 7 → 4×4 grid, which learns fastest from the 10k-image subset).
        Add("vit_mnist_patch4_28", new VitConfig { ImgHeight = 28, ImgWidth = 28, InChans = 1, PatchSize = 4, EmbedDim = 128, Depth = 6, NumHeads = 4, NumClasses = 10 });
        Add("vit_demo_patch7_28", new VitConfig { ImgHeight = 28, ImgWidth = 28, InChans = 1, PatchSize = 7, EmbedDim = 96, Depth = 4, NumHeads = 4, NumClasses = 10 });
        // The full Fashion-MNIST recipe's model (README): 28×28 images resized to 30×30 give a 5×5 grid of 6-pixel patches
        // (finer than patch 7's 4×4 at ~1.5× its cost), averaged patch tokens instead of a class token.
        Add("vit_fmnist_patch6_30", new VitConfig { ImgHeight = 30, ImgWidth = 30, InChans = 1, PatchSize = 6, EmbedDim = 96, Depth = 4, NumHeads = 4, NumClasses = 10, ClassToken = false, GlobalPool = GlobalPool.Avg });
        Add("vit_base_r26_s32_224", Sized("base", 1, 224) with { HybridLayers = [2, 2, 2, 2] });
        Add("vit_base_r50_s16_224_in21k", Sized("base", 1, 224) with { HybridLayers = [3, 4, 9], NumClasses = 21843, RepresentationSize = 768 });
        return r;
    }

    /// <summary>Every registered name, sorted.</summary>
    public static IReadOnlyList<string> Names { get; } = [.. Registry.Keys.Order(StringComparer.Ordinal)];

    public static bool Contains(string name) => Registry.ContainsKey(name);

    /// <summary>The configuration registered under <paramref name="name"/>, with optional changes
    /// (e.g. <c>c =&gt; c with { NumClasses = 5, ImgHeight = 384, ImgWidth = 384 }</c>).</summary>
    public static VitConfig GetConfig(string name, Func<VitConfig, VitConfig>? overrides = null)
    {
        if (!Registry.TryGetValue(name, out var c))
        {
            var close = Suggest(name);
            throw new VitException($"unknown model '{name}'" + (close.Count > 0 ? $"; did you mean {string.Join(", ", close)}?" : "; see `vit models` / ModelZoo.Names"));
        }
        if (overrides != null) c = overrides(c);
        return c.Validate();
    }

    /// <summary>Builds a freshly initialised model by name.</summary>
    public static VisionTransformer Create(string name, Func<VitConfig, VitConfig>? overrides = null, Rng? rng = null, bool initialize = true) =>
        new(GetConfig(name, overrides), rng, initialize);

    /// <summary>Up to five registered names closest to <paramref name="name"/> (edit distance, substrings first).</summary>
    public static IReadOnlyList<string> Suggest(string name, int max = 5)
    {
        var n = name.Trim().ToLowerInvariant().Replace('-', '_');
        int limit = Math.Max(3, n.Length / 3);
        return [.. Names
            .Select(k => (Name: k, Dist: k.Contains(n, StringComparison.Ordinal) && n.Length >= 4 ? 0 : EditDistance(n, k)))
            .Where(e => e.Dist <= limit)
            .OrderBy(e => e.Dist).ThenBy(e => e.Name, StringComparer.Ordinal)
            .Take(max)
            .Select(e => e.Name)];
    }

    /// <summary>Levenshtein distance.</summary>
    public static int EditDistance(string a, string b)
    {
        var prev = new int[b.Length + 1];
        var cur = new int[b.Length + 1];
        for (int j = 0; j <= b.Length; j++) prev[j] = j;
        for (int i = 1; i <= a.Length; i++)
        {
            cur[0] = i;
            for (int j = 1; j <= b.Length; j++)
                cur[j] = Math.Min(Math.Min(cur[j - 1] + 1, prev[j] + 1), prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1));
            (prev, cur) = (cur, prev);
        }
        return prev[b.Length];
    }

    /// <summary>Parameter count of a configuration without building it (matches
    /// <see cref="Module.ParameterCount"/> of the built model; used for large models and `vit info`).</summary>
    public static long ParameterCount(VitConfig c)
    {
        long d = c.EmbedDim, hidden = (long)(c.EmbedDim * c.MlpRatio);
        long n = 0;
        int embedIn = c.InChans;
        if (c.IsHybrid)
        {
            var widths = c.HybridWidths ?? [.. new[] { 256, 512, 1024, 2048 }.Take(c.HybridLayers!.Length)];
            long stem = c.HybridStemWidth;
            n += stem * c.InChans * 49 + 2 * stem;
            long prev = stem;
            for (int s = 0; s < widths.Length; s++)
            {
                long w = widths[s], mid = ResNetV2.MidChannels(widths[s]);
                n += prev * w + 2 * w; // downsample conv + GN
                for (int b = 0; b < c.HybridLayers![s]; b++)
                {
                    long inC = b == 0 ? prev : w;
                    n += inC * mid + 2 * mid + mid * mid * 9 + 2 * mid + mid * w + 2 * w;
                }
                prev = w;
            }
            embedIn = (int)prev;
        }
        n += d * embedIn * c.PatchSize * c.PatchSize + d;
        if (c.ClassToken) n += d;
        if (c.Distilled) n += d;
        if (c.PosEmbed == PosEmbedKind.Learn) n += c.NumTokens * d;
        long perBlock = 4 * d + 3 * d * d + (c.QkvBias ? 3 * d : 0) + d * d + d + d * hidden + hidden + hidden * d + d;
        n += perBlock * c.Depth + 2 * d;
        long feat = d;
        if (c.RepresentationSize is int rep) { n += d * rep + rep; feat = rep; }
        if (c.NumClasses > 0) n += (c.Distilled ? 2 : 1) * (feat * c.NumClasses + c.NumClasses);
        return n;
    }

    /// <summary>Multiply-accumulates for one image through the matmuls and convolutions (norms, softmax and
    /// activations are not counted; timm's published GMACs differ by well under 1%).</summary>
    public static long MacsPerImage(VitConfig c)
    {
        long d = c.EmbedDim, n = c.NumTokens, np = c.NumPatches;
        long hidden = (long)(c.EmbedDim * c.MlpRatio);
        long macs = 0;
        long embedIn = c.InChans;
        if (c.IsHybrid)
        {
            var widths = c.HybridWidths ?? [.. new[] { 256, 512, 1024, 2048 }.Take(c.HybridLayers!.Length)];
            macs += ResNetV2.Macs(c.HybridLayers!, c.InChans, c.HybridStemWidth, widths, c.ImgHeight, c.ImgWidth);
            embedIn = widths[^1];
        }
        macs += np * d * embedIn * c.PatchSize * c.PatchSize;
        long perBlock = n * d * 3 * d      // qkv
            + 2 * n * n * d                // q·kᵀ and probs·v over all heads
            + n * d * d                    // proj
            + 2 * n * d * hidden;          // fc1, fc2
        macs += perBlock * c.Depth;
        long feat = d;
        if (c.RepresentationSize is int rep) { macs += d * rep; feat = rep; }
        if (c.NumClasses > 0) macs += (c.Distilled ? 2 : 1) * feat * c.NumClasses;
        return macs;
    }

    /// <summary>
    /// Multiply-accumulates the planned paths (<see cref="VitInference"/>, the forward of <see cref="VitTrainStep"/>)
    /// execute for one image: <see cref="MacsPerImage"/>, except that with token pooling the last block computes keys
    /// and values for every token but its queries, attention, proj and MLP for the prefix tokens only (the rest of
    /// its output is never read). Hybrids are not planned: their count is the full one.
    /// </summary>
    public static long PlannedMacsPerImage(VitConfig c)
    {
        long macs = MacsPerImage(c);
        if (c.IsHybrid || c.GlobalPool != GlobalPool.Token || c.Depth == 0) return macs;
        long d = c.EmbedDim, n = c.NumTokens, k = c.NumPrefixTokens, hidden = (long)(c.EmbedDim * c.MlpRatio);
        long full = n * d * 3 * d + 2 * n * n * d + n * d * d + 2 * n * d * hidden;
        long last = n * d * 2 * d + k * d * d + 2 * k * n * d + k * d * d + 2 * k * d * hidden;
        return macs - full + last;
    }
}
