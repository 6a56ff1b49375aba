using System.Globalization;
using System.Runtime.InteropServices;
using VitSharp.Checkpoints;

namespace VitSharp.Tests.Models;

/// <summary>One array of a state dict: name, shape, float32 values in C order.</summary>
internal sealed record NamedArray(string Name, int[] Shape, float[] Data)
{
    public RawArray ToRaw() => new(DType.F32, Shape, MemoryMarshal.AsBytes(Data.AsSpan()).ToArray());
}

/// <summary>
/// A timm-named ViT state dict laid out the way Google (vit_jax .npz), torchvision and Hugging Face store it.
/// Written from /work/shared/docs/vit-reference.md (b) with plain index loops and deliberately independent of
/// Checkpoints.KeyMaps, the loader's own mapping: a layout bug there cannot cancel out against the same bug here.
/// </summary>
internal static class ForeignLayouts
{
    private static string I(int i) => i.ToString(CultureInfo.InvariantCulture);

    private static int DepthOf(IReadOnlyDictionary<string, NamedArray> timm)
    {
        int depth = 0;
        while (timm.ContainsKey($"blocks.{I(depth)}.norm1.weight")) depth++;
        return depth;
    }

    /// <summary>(rows, cols) → (cols, rows).</summary>
    private static float[] Transpose(NamedArray a)
    {
        int r = a.Shape[0], c = a.Shape[1];
        var o = new float[a.Data.Length];
        for (int i = 0; i < r; i++)
            for (int j = 0; j < c; j++) o[j * r + i] = a.Data[i * c + j];
        return o;
    }

    /// <summary>vit_jax names and layouts (vit-reference.md (b)), keys sorted as numpy writes a flattened Flax tree.</summary>
    public static List<KeyValuePair<string, RawArray>> Google(IReadOnlyDictionary<string, NamedArray> timm, int heads)
    {
        var g = new List<NamedArray>();
        void Add(string name, int[] shape, float[] data) => g.Add(new NamedArray(name, shape, data));

        // Patch conv OIHW (D, C, P, P) -> HWIO (P, P, C, D).
        var pw = timm["patch_embed.proj.weight"];
        int d = pw.Shape[0], cin = pw.Shape[1], ph = pw.Shape[2], pwid = pw.Shape[3];
        var hwio = new float[pw.Data.Length];
        for (int o = 0; o < d; o++)
            for (int i = 0; i < cin; i++)
                for (int y = 0; y < ph; y++)
                    for (int x = 0; x < pwid; x++)
                        hwio[((y * pwid + x) * cin + i) * d + o] = pw.Data[((o * cin + i) * ph + y) * pwid + x];
        Add("embedding/kernel", [ph, pwid, cin, d], hwio);
        Add("embedding/bias", [d], timm["patch_embed.proj.bias"].Data);
        Add("cls", timm["cls_token"].Shape, timm["cls_token"].Data);
        Add("Transformer/posembed_input/pos_embedding", timm["pos_embed"].Shape, timm["pos_embed"].Data);

        int dh = d / heads;
        for (int b = 0; b < DepthOf(timm); b++)
        {
            string t = $"blocks.{I(b)}.", p = $"Transformer/encoderblock_{I(b)}/";
            const string mha = "MultiHeadDotProductAttention_1/";
            Add(p + "LayerNorm_0/scale", [d], timm[t + "norm1.weight"].Data);
            Add(p + "LayerNorm_0/bias", [d], timm[t + "norm1.bias"].Data);
            // qkv.weight rows are [q heads | k heads | v heads], head h at rows h*Dh..; Flax kernel is (D_in, H, Dh).
            var qkv = timm[t + "attn.qkv.weight"].Data;
            var qkvb = timm[t + "attn.qkv.bias"].Data;
            string[] parts = ["query", "key", "value"];
            for (int part = 0; part < 3; part++)
            {
                var k = new float[d * heads * dh];
                var bias = new float[heads * dh];
                for (int h = 0; h < heads; h++)
                    for (int j = 0; j < dh; j++)
                    {
                        int row = part * d + h * dh + j;
                        bias[h * dh + j] = qkvb[row];
                        for (int i = 0; i < d; i++) k[(i * heads + h) * dh + j] = qkv[row * d + i];
                    }
                Add(p + mha + parts[part] + "/kernel", [d, heads, dh], k);
                Add(p + mha + parts[part] + "/bias", [heads, dh], bias);
            }
            // proj.weight (D_out, H*Dh) -> out kernel (H, Dh, D_out).
            var proj = timm[t + "attn.proj.weight"].Data;
            var ok = new float[heads * dh * d];
            for (int h = 0; h < heads; h++)
                for (int j = 0; j < dh; j++)
                    for (int o = 0; o < d; o++) ok[(h * dh + j) * d + o] = proj[o * d + h * dh + j];
            Add(p + mha + "out/kernel", [heads, dh, d], ok);
            Add(p + mha + "out/bias", [d], timm[t + "attn.proj.bias"].Data);
            Add(p + "LayerNorm_2/scale", [d], timm[t + "norm2.weight"].Data);
            Add(p + "LayerNorm_2/bias", [d], timm[t + "norm2.bias"].Data);
            var fc1 = timm[t + "mlp.fc1.weight"];
            var fc2 = timm[t + "mlp.fc2.weight"];
            Add(p + "MlpBlock_3/Dense_0/kernel", [fc1.Shape[1], fc1.Shape[0]], Transpose(fc1));
            Add(p + "MlpBlock_3/Dense_0/bias", [fc1.Shape[0]], timm[t + "mlp.fc1.bias"].Data);
            Add(p + "MlpBlock_3/Dense_1/kernel", [fc2.Shape[1], fc2.Shape[0]], Transpose(fc2));
            Add(p + "MlpBlock_3/Dense_1/bias", [fc2.Shape[0]], timm[t + "mlp.fc2.bias"].Data);
        }
        Add("Transformer/encoder_norm/scale", [d], timm["norm.weight"].Data);
        Add("Transformer/encoder_norm/bias", [d], timm["norm.bias"].Data);
        if (timm.TryGetValue("pre_logits.fc.weight", out var pre))
        {
            Add("pre_logits/kernel", [pre.Shape[1], pre.Shape[0]], Transpose(pre));
            Add("pre_logits/bias", [pre.Shape[0]], timm["pre_logits.fc.bias"].Data);
        }
        var head = timm["head.weight"];
        Add("head/kernel", [head.Shape[1], head.Shape[0]], Transpose(head));
        Add("head/bias", [head.Shape[0]], timm["head.bias"].Data);
        return g.OrderBy(a => a.Name, StringComparer.Ordinal).Select(a => new KeyValuePair<string, RawArray>(a.Name, a.ToRaw())).ToList();
    }

    /// <summary>torchvision vit_b_16 names in its state-dict order; same layouts as timm (in_proj = fused q,k,v rows).</summary>
    public static List<KeyValuePair<string, RawArray>> TorchVision(IReadOnlyDictionary<string, NamedArray> timm)
    {
        var o = new List<KeyValuePair<string, RawArray>>();
        void Add(string name, string from) => o.Add(new(name, timm[from].ToRaw()));
        Add("class_token", "cls_token");
        Add("conv_proj.weight", "patch_embed.proj.weight");
        Add("conv_proj.bias", "patch_embed.proj.bias");
        Add("encoder.pos_embedding", "pos_embed");
        for (int b = 0; b < DepthOf(timm); b++)
        {
            string t = $"blocks.{I(b)}.", p = $"encoder.layers.encoder_layer_{I(b)}.";
            Add(p + "ln_1.weight", t + "norm1.weight");
            Add(p + "ln_1.bias", t + "norm1.bias");
            Add(p + "self_attention.in_proj_weight", t + "attn.qkv.weight");
            Add(p + "self_attention.in_proj_bias", t + "attn.qkv.bias");
            Add(p + "self_attention.out_proj.weight", t + "attn.proj.weight");
            Add(p + "self_attention.out_proj.bias", t + "attn.proj.bias");
            Add(p + "ln_2.weight", t + "norm2.weight");
            Add(p + "ln_2.bias", t + "norm2.bias");
            Add(p + "mlp.0.weight", t + "mlp.fc1.weight");
            Add(p + "mlp.0.bias", t + "mlp.fc1.bias");
            Add(p + "mlp.3.weight", t + "mlp.fc2.weight");
            Add(p + "mlp.3.bias", t + "mlp.fc2.bias");
        }
        Add("encoder.ln.weight", "norm.weight");
        Add("encoder.ln.bias", "norm.bias");
        if (timm.ContainsKey("pre_logits.fc.weight"))
        {
            Add("heads.pre_logits.weight", "pre_logits.fc.weight");
            Add("heads.pre_logits.bias", "pre_logits.fc.bias");
        }
        Add("heads.head.weight", "head.weight");
        Add("heads.head.bias", "head.bias");
        return o;
    }

    /// <summary>Hugging Face ViTForImageClassification names (separate q/k/v = row blocks of qkv), keys sorted as
    /// safetensors files list them.</summary>
    public static List<KeyValuePair<string, RawArray>> HuggingFace(IReadOnlyDictionary<string, NamedArray> timm)
    {
        var o = new List<NamedArray>();
        void Add(string name, string from) => o.Add(timm[from] with { Name = name });
        Add("vit.embeddings.cls_token", "cls_token");
        Add("vit.embeddings.position_embeddings", "pos_embed");
        Add("vit.embeddings.patch_embeddings.projection.weight", "patch_embed.proj.weight");
        Add("vit.embeddings.patch_embeddings.projection.bias", "patch_embed.proj.bias");
        for (int b = 0; b < DepthOf(timm); b++)
        {
            string t = $"blocks.{I(b)}.", p = $"vit.encoder.layer.{I(b)}.";
            Add(p + "layernorm_before.weight", t + "norm1.weight");
            Add(p + "layernorm_before.bias", t + "norm1.bias");
            var w = timm[t + "attn.qkv.weight"];
            var bias = timm[t + "attn.qkv.bias"].Data;
            int d = w.Shape[1];
            string[] parts = ["query", "key", "value"];
            for (int part = 0; part < 3; part++)
            {
                o.Add(new NamedArray(p + $"attention.attention.{parts[part]}.weight", [d, d], w.Data.AsSpan(part * d * d, d * d).ToArray()));
                o.Add(new NamedArray(p + $"attention.attention.{parts[part]}.bias", [d], bias.AsSpan(part * d, d).ToArray()));
            }
            Add(p + "attention.output.dense.weight", t + "attn.proj.weight");
            Add(p + "attention.output.dense.bias", t + "attn.proj.bias");
            Add(p + "layernorm_after.weight", t + "norm2.weight");
            Add(p + "layernorm_after.bias", t + "norm2.bias");
            Add(p + "intermediate.dense.weight", t + "mlp.fc1.weight");
            Add(p + "intermediate.dense.bias", t + "mlp.fc1.bias");
            Add(p + "output.dense.weight", t + "mlp.fc2.weight");
            Add(p + "output.dense.bias", t + "mlp.fc2.bias");
        }
        Add("vit.layernorm.weight", "norm.weight");
        Add("vit.layernorm.bias", "norm.bias");
        if (timm.ContainsKey("pre_logits.fc.weight"))
        {
            Add("vit.pooler.dense.weight", "pre_logits.fc.weight");
            Add("vit.pooler.dense.bias", "pre_logits.fc.bias");
        }
        Add("classifier.weight", "head.weight");
        Add("classifier.bias", "head.bias");
        return o.OrderBy(a => a.Name, StringComparer.Ordinal).Select(a => new KeyValuePair<string, RawArray>(a.Name, a.ToRaw())).ToList();
    }

    /// <summary>The timm state dict itself (timm / tutorial .pth and .safetensors).</summary>
    public static List<KeyValuePair<string, RawArray>> Timm(IEnumerable<NamedArray> timm) =>
        timm.Select(a => new KeyValuePair<string, RawArray>(a.Name, a.ToRaw())).ToList();
}
