using VitSharp.Checkpoints;
using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>A model rebuilt from a checkpoint, with what the checkpoint says about classes and preprocessing.</summary>
public sealed record LoadedModel(VisionTransformer Model, VitConfig Config, IReadOnlyList<string>? Classes, PreprocessInfo? Preprocess, string Path)
{
    /// <summary>Validation preprocessing: Resize(shorter side) + CenterCrop(model size) + Normalize (checkpoint's, else 0.5/0.5).</summary>
    public Compose EvalTransform()
    {
        int h = Config.ImgHeight, w = Config.ImgWidth;
        int resize = Preprocess is { ResizeShorter: > 0 } p ? p.ResizeShorter : Math.Max(h, w) * 256 / 224;
        return new Compose(
            [new ConvertChannels(Config.InChans), new Resize(resize), new CenterCrop(h, w)],
            [new Normalize(FitChannels(Preprocess?.Mean, Config.InChans), FitChannels(Preprocess?.Std, Config.InChans))]);
    }

    private static float[] FitChannels(float[]? v, int c)
    {
        v ??= [0.5f, 0.5f, 0.5f];
        if (v.Length == c) return v;
        return [.. Enumerable.Range(0, c).Select(i => v[Math.Min(i, v.Length - 1)])];
    }

    /// <summary>Decodes and preprocesses images into one (B, C, H, W) batch.</summary>
    public Tensor LoadImages(IReadOnlyList<string> paths)
    {
        var t = EvalTransform();
        var rng = new Rng(0);
        int c = Config.InChans, h = Config.ImgHeight, w = Config.ImgWidth, per = c * h * w;
        var data = new float[paths.Count * per];
        for (int i = 0; i < paths.Count; i++)
            t.ApplyInto(ImageDecoder.Load(paths[i]), rng, data.AsSpan(i * per, per), c, h, w);
        return Tensor.FromArray(data, paths.Count, c, h, w);
    }
}

/// <summary>Rebuilds a ViT from any readable checkpoint: our safetensors carry their config; others need --arch.</summary>
public static class ModelLoading
{
    public static LoadedModel Load(string path, string? arch = null)
    {
        if (!File.Exists(path)) throw new VitException($"{path}: no such checkpoint file");
        var ckpt = CheckpointFile.Load(path);
        // last.safetensors also holds optimiser / EMA state; only model weights go into the model.
        var weights = ckpt.Tensors.Where(kv => !kv.Key.StartsWith(Optimizer.TensorPrefix, StringComparison.Ordinal)
                                             && !kv.Key.StartsWith("ema.", StringComparison.Ordinal)).ToList();
        var canonical = KeyMaps.ToCanonical(weights);
        var dict = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (k, v) in canonical.Tensors) dict[k] = v;

        VisionTransformer model;
        VitConfig config;
        if (arch != null && !ModelZoo.Contains(arch))
        {
            var near = ModelZoo.Suggest(arch);
            throw new VitException($"unknown model '{arch}'{(near.Count > 0 ? $"; did you mean {string.Join(", ", near)}?" : "")}");
        }
        if (arch == null && ckpt.Metadata.ConfigJson is { } json)
        {
            // Our own checkpoint: it carries its config; the weights must fit it exactly.
            config = VitConfig.FromJson(json);
            model = new VisionTransformer(config, initialize: false);
            model.LoadStateDict(dict, strict: true);
        }
        else
        {
            // Any other file (Google .npz, timm/torchvision .pth, HF safetensors): the pretrained loader maps the
            // names and layouts, detects the architecture when --arch is absent and resamples the position
            // embedding to the architecture's grid; the class count comes from the file's head.
            int? classes = dict.TryGetValue("head.weight", out var head) ? head.Shape[0] : null;
            Func<VitConfig, VitConfig>? fit = arch != null && classes is int k ? c => c with { NumClasses = k } : null;
            var keep = weights.Select(kv => kv.Key).ToHashSet(StringComparer.Ordinal);
            var filtered = new Checkpoint { Format = ckpt.Format, Path = ckpt.Path, Metadata = ckpt.Metadata, Arrays = [.. ckpt.Arrays.Where(a => keep.Contains(a.Name))] };
            (model, _) = Pretrained.Create(filtered, arch, fit, new PretrainedOptions { Strict = true });
            config = model.Config;
        }
        model.Eval();
        IReadOnlyList<string>? names = ckpt.Metadata.Classes;
        if (names != null && names.Count != config.NumClasses)
            throw new VitException($"{path}: {names.Count} class names stored for a model with {config.NumClasses} classes");
        return new LoadedModel(model, config, names, ckpt.Metadata.Preprocess, path);
    }

    /// <summary>Class names from a class_indices.json ({"0": "daisy", ...}).</summary>
    public static IReadOnlyList<string> ReadClassIndices(string path)
    {
        if (!File.Exists(path)) throw new VitException($"{path}: no such labels file");
        Dictionary<string, string>? d;
        try { d = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, string>>(File.ReadAllText(path)); }
        catch (System.Text.Json.JsonException e) { throw new VitException($"{path}: not a class_indices.json ({e.Message})"); }
        if (d == null || d.Count == 0) throw new VitException($"{path}: no labels");
        var names = new string[d.Count];
        foreach (var (k, v) in d)
        {
            if (!int.TryParse(k, out int i) || i < 0 || i >= names.Length) throw new VitException($"{path}: key '{k}' is not an index in [0, {names.Length})");
            names[i] = v;
        }
        return names;
    }
}
