using System.Globalization;
using System.Text.RegularExpressions;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>Which library's parameter names a checkpoint uses.</summary>
public enum CheckpointNaming { Timm, Google, GoogleBigVision, TorchVision, HuggingFace }

/// <summary>A state dict converted to canonical (timm) names, with what could not be mapped.</summary>
public sealed class CanonicalStateDict
{
    public required List<KeyValuePair<string, Tensor>> Tensors { get; init; }
    public required CheckpointNaming Naming { get; init; }
    /// <summary>Source keys that have no canonical counterpart (kept under their original name).</summary>
    public List<string> Unmapped { get; } = [];
    /// <summary>Attention head count when the source layout records it (Google q/k/v kernels are (D, H, Dh)).</summary>
    public int? HeadsHint { get; set; }

    public Tensor? Get(string name)
    {
        foreach (var (k, v) in Tensors) if (k == name) return v;
        return null;
    }
}

/// <summary>
/// Maps Google (.npz: vit_jax / big_vision, plain and R50 hybrid), torchvision and Hugging Face names to the
/// canonical timm names, with the layout changes each needs (vit-reference.md (b), (d)):
/// Dense kernels (in,out)→(out,in); q/k/v (D,H,Dh)→rows of a fused qkv (3D,D) in q,k,v order; out (H,Dh,D)→(D,D);
/// conv kernels HWIO→OIHW; old GroupNorm params (1,1,1,C)→(C); HF separate q/k/v fused into qkv.
/// </summary>
public static partial class KeyMaps
{
    public static CheckpointNaming DetectNaming(IEnumerable<string> keys)
    {
        bool google = false, bigVision = false, tv = false, hf = false;
        foreach (var key in keys)
        {
            var k0 = key.StartsWith("module.", StringComparison.Ordinal) ? key[7..] : key;
            var k = StripGooglePrefix(k0);
            if (k.StartsWith("Transformer/", StringComparison.Ordinal) || k is "embedding/kernel" or "cls" or "pos_embedding")
            {
                google = true;
                if (k.Contains("MultiHeadDotProductAttention_0/", StringComparison.Ordinal) || k0.StartsWith("params/", StringComparison.Ordinal)) bigVision = true;
            }
            if (k0.StartsWith("encoder.layers.encoder_layer_", StringComparison.Ordinal) || k0 is "conv_proj.weight" or "class_token") tv = true;
            if (k0.Contains("embeddings.patch_embeddings.", StringComparison.Ordinal) || k0.Contains("encoder.layer.", StringComparison.Ordinal) && k0.Contains(".attention.attention.", StringComparison.Ordinal)) hf = true;
        }
        if (google) return bigVision ? CheckpointNaming.GoogleBigVision : CheckpointNaming.Google;
        if (tv) return CheckpointNaming.TorchVision;
        if (hf) return CheckpointNaming.HuggingFace;
        return CheckpointNaming.Timm;
    }

    public static CanonicalStateDict ToCanonical(IReadOnlyList<KeyValuePair<string, Tensor>> tensors)
    {
        var naming = DetectNaming(tensors.Select(t => t.Key));
        return naming switch
        {
            CheckpointNaming.Google or CheckpointNaming.GoogleBigVision => FromGoogle(tensors, naming),
            CheckpointNaming.TorchVision => FromTorchVision(tensors),
            CheckpointNaming.HuggingFace => FromHuggingFace(tensors),
            _ => FromTimm(tensors),
        };
    }

    // ------------------------------------------------------------------ helpers

    private static string StripGooglePrefix(string k) =>
        k.StartsWith("opt/target/", StringComparison.Ordinal) ? k[11..] : k.StartsWith("params/", StringComparison.Ordinal) ? k[7..] : k;

    private static Tensor Copy(Tensor t) => t.Clone();

    /// <summary>2-D transpose into a dense tensor.</summary>
    private static Tensor T2(Tensor t, string key)
    {
        if (t.Rank != 2) throw new CheckpointException(null, $"'{key}': expected a 2-D kernel, got {t.ShapeString}");
        return t.Permute(1, 0).Clone();
    }

    /// <summary>Conv kernel HWIO → OIHW.</summary>
    private static Tensor Hwio(Tensor t, string key)
    {
        if (t.Rank != 4) throw new CheckpointException(null, $"'{key}': expected a 4-D HWIO conv kernel, got {t.ShapeString}");
        return t.Permute(3, 2, 0, 1).Clone();
    }

    /// <summary>GroupNorm/LayerNorm parameters: old hybrid files store (1,1,1,C).</summary>
    private static Tensor Vec(Tensor t)
    {
        if (t.Rank > 1) return t.Clone().Reshape(t.Numel);
        return Copy(t);
    }

    private static Tensor CatRows(IReadOnlyList<Tensor> parts, int[] shape)
    {
        var r = Tensor.Empty(shape);
        var dst = r.AsSpan();
        int o = 0;
        foreach (var p in parts)
        {
            p.CopyTo(dst[o..]);
            o += p.Numel;
        }
        if (o != r.Numel) throw new CheckpointException(null, $"cannot fuse q/k/v parts into {Tensor.ShapeToString(shape)}");
        return r;
    }

    // ------------------------------------------------------------------ Google

    private static CanonicalStateDict FromGoogle(IReadOnlyList<KeyValuePair<string, Tensor>> src, CheckpointNaming naming)
    {
        var w = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        var order = new List<string>();
        foreach (var (k, v) in src)
        {
            var key = StripGooglePrefix(k);
            // big_vision "scanned" encoders stack all layers on a leading axis: split into encoderblock_i.
            const string scanned = "Transformer/encoderblock/";
            if (key.StartsWith(scanned, StringComparison.Ordinal))
            {
                int layers = v.Shape[0];
                for (int i = 0; i < layers; i++)
                {
                    var name = $"Transformer/encoderblock_{i}/" + key[scanned.Length..];
                    w[name] = v.Select(0, i).Clone();
                    order.Add(name);
                }
                continue;
            }
            w[key] = v;
            order.Add(key);
        }
        bool bv = order.Any(k => k.Contains("MultiHeadDotProductAttention_0/", StringComparison.Ordinal));
        string ln1 = "LayerNorm_0", mha = bv ? "MultiHeadDotProductAttention_0" : "MultiHeadDotProductAttention_1",
            ln2 = bv ? "LayerNorm_1" : "LayerNorm_2", mlp = bv ? "MlpBlock_0" : "MlpBlock_3";
        var used = new HashSet<string>(StringComparer.Ordinal);
        var outList = new List<KeyValuePair<string, Tensor>>();
        var result = new CanonicalStateDict { Tensors = outList, Naming = naming };
        Tensor? Take(string k)
        {
            if (!w.TryGetValue(k, out var t)) return null;
            used.Add(k);
            return t;
        }
        void Put(string name, Tensor? t)
        {
            if (t != null) outList.Add(new(name, t));
        }

        // Hybrid backbone first (timm module order: patch_embed.backbone before patch_embed.proj).
        const string pb = "patch_embed.backbone.";
        if (w.ContainsKey("conv_root/kernel"))
        {
            Put(pb + "stem.conv.weight", Hwio(Take("conv_root/kernel")!, "conv_root/kernel"));
            Put(pb + "stem.norm.weight", Take("gn_root/scale") is { } s ? Vec(s) : null);
            Put(pb + "stem.norm.bias", Take("gn_root/bias") is { } b ? Vec(b) : null);
            for (int si = 1; ; si++)
            {
                if (!order.Any(k => k.StartsWith($"block{si}/", StringComparison.Ordinal))) break;
                for (int u = 1; ; u++)
                {
                    string gp = $"block{si}/unit{u}/";
                    if (!w.ContainsKey(gp + "conv1/kernel")) break;
                    string p = $"{pb}stages.{si - 1}.blocks.{u - 1}.";
                    for (int c = 1; c <= 3; c++)
                    {
                        Put(p + $"conv{c}.weight", Hwio(Take(gp + $"conv{c}/kernel")!, gp + $"conv{c}/kernel"));
                        Put(p + $"norm{c}.weight", Take(gp + $"gn{c}/scale") is { } s2 ? Vec(s2) : null);
                        Put(p + $"norm{c}.bias", Take(gp + $"gn{c}/bias") is { } b2 ? Vec(b2) : null);
                    }
                    if (w.ContainsKey(gp + "conv_proj/kernel"))
                    {
                        Put(p + "downsample.conv.weight", Hwio(Take(gp + "conv_proj/kernel")!, gp + "conv_proj/kernel"));
                        Put(p + "downsample.norm.weight", Take(gp + "gn_proj/scale") is { } s3 ? Vec(s3) : null);
                        Put(p + "downsample.norm.bias", Take(gp + "gn_proj/bias") is { } b3 ? Vec(b3) : null);
                    }
                }
            }
        }
        if (Take("cls") is { } cls) Put("cls_token", Copy(cls));
        if ((Take("Transformer/posembed_input/pos_embedding") ?? Take("pos_embedding")) is { } pos) Put("pos_embed", Copy(pos));
        if (Take("embedding/kernel") is { } ek) Put("patch_embed.proj.weight", Hwio(ek, "embedding/kernel"));
        if (Take("embedding/bias") is { } eb) Put("patch_embed.proj.bias", Copy(eb));
        for (int i = 0; ; i++)
        {
            string p = $"Transformer/encoderblock_{i}/";
            if (!order.Any(k => k.StartsWith(p, StringComparison.Ordinal))) break;
            string b = $"blocks.{i}.";
            Put(b + "norm1.weight", Take(p + ln1 + "/scale") is { } a1 ? Vec(a1) : null);
            Put(b + "norm1.bias", Take(p + ln1 + "/bias") is { } a2 ? Vec(a2) : null);
            var q = Take(p + mha + "/query/kernel");
            var k = Take(p + mha + "/key/kernel");
            var v = Take(p + mha + "/value/kernel");
            if (q != null && k != null && v != null)
            {
                if (q.Rank != 3) throw new CheckpointException(null, $"'{p}{mha}/query/kernel': expected (D, heads, head_dim), got {q.ShapeString}");
                int d = q.Shape[0], inner = q.Shape[1] * q.Shape[2];
                result.HeadsHint ??= q.Shape[1];
                var parts = new[] { q, k, v }.Select(t => t.Reshape(d, inner).Permute(1, 0).Clone()).ToArray();
                Put(b + "attn.qkv.weight", CatRows(parts, [3 * inner, d]));
                var qb = Take(p + mha + "/query/bias");
                var kb = Take(p + mha + "/key/bias");
                var vb = Take(p + mha + "/value/bias");
                if (qb != null && kb != null && vb != null) Put(b + "attn.qkv.bias", CatRows([qb, kb, vb], [3 * inner]));
            }
            if (Take(p + mha + "/out/kernel") is { } ok)
            {
                if (ok.Rank != 3) throw new CheckpointException(null, $"'{p}{mha}/out/kernel': expected (heads, head_dim, D), got {ok.ShapeString}");
                int inner = ok.Shape[0] * ok.Shape[1], d = ok.Shape[2];
                Put(b + "attn.proj.weight", ok.Reshape(inner, d).Permute(1, 0).Clone());
            }
            Put(b + "attn.proj.bias", Take(p + mha + "/out/bias") is { } obias ? Copy(obias) : null);
            Put(b + "norm2.weight", Take(p + ln2 + "/scale") is { } c1 ? Vec(c1) : null);
            Put(b + "norm2.bias", Take(p + ln2 + "/bias") is { } c2 ? Vec(c2) : null);
            Put(b + "mlp.fc1.weight", Take(p + mlp + "/Dense_0/kernel") is { } f1 ? T2(f1, p + mlp + "/Dense_0/kernel") : null);
            Put(b + "mlp.fc1.bias", Take(p + mlp + "/Dense_0/bias") is { } f1b ? Copy(f1b) : null);
            Put(b + "mlp.fc2.weight", Take(p + mlp + "/Dense_1/kernel") is { } f2 ? T2(f2, p + mlp + "/Dense_1/kernel") : null);
            Put(b + "mlp.fc2.bias", Take(p + mlp + "/Dense_1/bias") is { } f2b ? Copy(f2b) : null);
        }
        Put("norm.weight", Take("Transformer/encoder_norm/scale") is { } nw ? Vec(nw) : null);
        Put("norm.bias", Take("Transformer/encoder_norm/bias") is { } nb ? Vec(nb) : null);
        Put("pre_logits.fc.weight", Take("pre_logits/kernel") is { } pk ? T2(pk, "pre_logits/kernel") : null);
        Put("pre_logits.fc.bias", Take("pre_logits/bias") is { } pbias ? Copy(pbias) : null);
        Put("head.weight", Take("head/kernel") is { } hk ? T2(hk, "head/kernel") : null);
        Put("head.bias", Take("head/bias") is { } hb ? Copy(hb) : null);
        foreach (var k in order)
        {
            if (used.Contains(k)) continue;
            result.Unmapped.Add(k);
            outList.Add(new(k, w[k]));
        }
        return result;
    }

    // ------------------------------------------------------------------ torchvision

    [GeneratedRegex(@"^encoder\.layers\.encoder_layer_(\d+)\.(.+)$")]
    private static partial Regex TvLayer();

    private static CanonicalStateDict FromTorchVision(IReadOnlyList<KeyValuePair<string, Tensor>> src)
    {
        var outList = new List<KeyValuePair<string, Tensor>>();
        var r = new CanonicalStateDict { Tensors = outList, Naming = CheckpointNaming.TorchVision };
        foreach (var (k0, v) in src)
        {
            var k = k0.StartsWith("module.", StringComparison.Ordinal) ? k0[7..] : k0;
            string? name = k switch
            {
                "class_token" => "cls_token",
                "encoder.pos_embedding" => "pos_embed",
                "conv_proj.weight" => "patch_embed.proj.weight",
                "conv_proj.bias" => "patch_embed.proj.bias",
                "encoder.ln.weight" => "norm.weight",
                "encoder.ln.bias" => "norm.bias",
                "heads.head.weight" => "head.weight",
                "heads.head.bias" => "head.bias",
                "heads.pre_logits.weight" => "pre_logits.fc.weight",
                "heads.pre_logits.bias" => "pre_logits.fc.bias",
                _ => null,
            };
            if (name == null && TvLayer().Match(k) is { Success: true } m)
            {
                string rest = m.Groups[2].Value switch
                {
                    "ln_1.weight" => "norm1.weight",
                    "ln_1.bias" => "norm1.bias",
                    "ln_2.weight" => "norm2.weight",
                    "ln_2.bias" => "norm2.bias",
                    "self_attention.in_proj_weight" => "attn.qkv.weight",
                    "self_attention.in_proj_bias" => "attn.qkv.bias",
                    "self_attention.out_proj.weight" => "attn.proj.weight",
                    "self_attention.out_proj.bias" => "attn.proj.bias",
                    "mlp.0.weight" or "mlp.linear_1.weight" => "mlp.fc1.weight",
                    "mlp.0.bias" or "mlp.linear_1.bias" => "mlp.fc1.bias",
                    "mlp.3.weight" or "mlp.linear_2.weight" => "mlp.fc2.weight",
                    "mlp.3.bias" or "mlp.linear_2.bias" => "mlp.fc2.bias",
                    _ => "",
                };
                if (rest.Length > 0) name = $"blocks.{m.Groups[1].Value}.{rest}";
            }
            if (name == null) r.Unmapped.Add(k0);
            outList.Add(new(name ?? k0, Copy(v)));
        }
        return r;
    }

    // ------------------------------------------------------------------ Hugging Face

    [GeneratedRegex(@"^encoder\.layer\.(\d+)\.(.+)$")]
    private static partial Regex HfLayer();

    private static CanonicalStateDict FromHuggingFace(IReadOnlyList<KeyValuePair<string, Tensor>> src)
    {
        var outList = new List<KeyValuePair<string, Tensor>>();
        var r = new CanonicalStateDict { Tensors = outList, Naming = CheckpointNaming.HuggingFace };
        // q/k/v arrive separately; collect them per layer and emit the fused tensor once all three are seen.
        var qkv = new Dictionary<string, Tensor?[]>(StringComparer.Ordinal);
        foreach (var (k0, v) in src)
        {
            var k = k0;
            foreach (var pre in new[] { "module.", "vit.", "deit." })
                if (k.StartsWith(pre, StringComparison.Ordinal)) k = k[pre.Length..];
            string? name = k switch
            {
                "embeddings.cls_token" => "cls_token",
                "embeddings.distillation_token" => "dist_token",
                "embeddings.position_embeddings" => "pos_embed",
                "embeddings.patch_embeddings.projection.weight" => "patch_embed.proj.weight",
                "embeddings.patch_embeddings.projection.bias" => "patch_embed.proj.bias",
                "layernorm.weight" => "norm.weight",
                "layernorm.bias" => "norm.bias",
                "pooler.dense.weight" => "pre_logits.fc.weight",
                "pooler.dense.bias" => "pre_logits.fc.bias",
                "classifier.weight" or "cls_classifier.weight" => "head.weight",
                "classifier.bias" or "cls_classifier.bias" => "head.bias",
                "distillation_classifier.weight" => "head_dist.weight",
                "distillation_classifier.bias" => "head_dist.bias",
                _ => null,
            };
            if (name == null && HfLayer().Match(k) is { Success: true } m)
            {
                string i = m.Groups[1].Value, rest = m.Groups[2].Value;
                int part = rest.StartsWith("attention.attention.query.", StringComparison.Ordinal) ? 0
                    : rest.StartsWith("attention.attention.key.", StringComparison.Ordinal) ? 1
                    : rest.StartsWith("attention.attention.value.", StringComparison.Ordinal) ? 2 : -1;
                if (part >= 0)
                {
                    string suffix = rest.EndsWith(".weight", StringComparison.Ordinal) ? "weight" : "bias";
                    string fused = $"blocks.{i}.attn.qkv.{suffix}";
                    if (!qkv.TryGetValue(fused, out var arr)) qkv[fused] = arr = new Tensor?[3];
                    arr[part] = v;
                    if (arr.All(t => t != null))
                    {
                        var shape = (int[])arr[0]!.Shape.Clone();
                        shape[0] *= 3;
                        outList.Add(new(fused, CatRows(arr!, shape)));
                    }
                    continue;
                }
                string mapped = rest switch
                {
                    "layernorm_before.weight" => "norm1.weight",
                    "layernorm_before.bias" => "norm1.bias",
                    "layernorm_after.weight" => "norm2.weight",
                    "layernorm_after.bias" => "norm2.bias",
                    "attention.output.dense.weight" => "attn.proj.weight",
                    "attention.output.dense.bias" => "attn.proj.bias",
                    "intermediate.dense.weight" => "mlp.fc1.weight",
                    "intermediate.dense.bias" => "mlp.fc1.bias",
                    "output.dense.weight" => "mlp.fc2.weight",
                    "output.dense.bias" => "mlp.fc2.bias",
                    _ => "",
                };
                if (mapped.Length > 0) name = $"blocks.{i}.{mapped}";
            }
            if (name == null) r.Unmapped.Add(k0);
            outList.Add(new(name ?? k0, Copy(v)));
        }
        foreach (var (fused, arr) in qkv)
            if (arr.Any(t => t == null)) throw new CheckpointException(null, $"Hugging Face checkpoint lacks one of query/key/value for '{fused}'");
        return r;
    }

    // ------------------------------------------------------------------ timm

    private static CanonicalStateDict FromTimm(IReadOnlyList<KeyValuePair<string, Tensor>> src)
    {
        var outList = new List<KeyValuePair<string, Tensor>>();
        foreach (var (k, v) in src)
            outList.Add(new(k.StartsWith("module.", StringComparison.Ordinal) ? k[7..] : k, v));
        return new CanonicalStateDict { Tensors = outList, Naming = CheckpointNaming.Timm };
    }

    internal static int? BlockIndex(string key, string prefix)
    {
        if (!key.StartsWith(prefix, StringComparison.Ordinal)) return null;
        int end = key.IndexOf('.', prefix.Length);
        if (end < 0) return null;
        return int.TryParse(key.AsSpan(prefix.Length, end - prefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out int i) ? i : null;
    }
}
