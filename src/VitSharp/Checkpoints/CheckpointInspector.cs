using System.Globalization;
using System.Text;
using System.Text.Json;
using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>What `vit info` reports: format, naming, detected architecture, every array, parameters, GFLOPs.</summary>
public sealed class CheckpointReport
{
    public required Checkpoint Checkpoint { get; init; }
    public required CanonicalStateDict Canonical { get; init; }
    public DetectedArchitecture? Architecture { get; init; }
    public string? ArchitectureError { get; init; }

    public static CheckpointReport Inspect(string path)
    {
        var ck = CheckpointFile.Load(path);
        var canon = KeyMaps.ToCanonical(ck.Tensors);
        DetectedArchitecture? arch = null;
        string? err = null;
        try { arch = DetectedArchitecture.Detect(canon, ck.Metadata, path); }
        catch (CheckpointException e) { err = e.Message; }
        return new CheckpointReport { Checkpoint = ck, Canonical = canon, Architecture = arch, ArchitectureError = err };
    }

    private static string FormatName(CheckpointFormat f) => f switch
    {
        CheckpointFormat.Npy => "npy",
        CheckpointFormat.Npz => "npz",
        CheckpointFormat.SafeTensors => "safetensors",
        _ => "pytorch",
    };

    public string ToText()
    {
        var ci = CultureInfo.InvariantCulture;
        var sb = new StringBuilder();
        var ck = Checkpoint;
        sb.AppendLine(ci, $"file:         {ck.Path}");
        sb.AppendLine(ci, $"format:       {FormatName(ck.Format)} ({Canonical.Naming} names)");
        if (Architecture is { } a)
        {
            sb.AppendLine(ci, $"architecture: {a.Describe()}");
            sb.AppendLine(ci, $"GFLOPs/image: {a.GFlops.ToString("G5", ci)}");
        }
        else sb.AppendLine(ci, $"architecture: not detected ({ArchitectureError})");
        sb.AppendLine(ci, $"parameters:   {ck.ParameterCount.ToString("N0", ci)}");
        var meta = ck.Metadata.ToDictionary();
        if (!ck.Metadata.IsEmpty)
            foreach (var (k, v) in meta.OrderBy(kv => kv.Key, StringComparer.Ordinal))
                sb.AppendLine(ci, $"metadata:     {k} = {(v.Length > 100 ? v[..100] + "..." : v)}");
        if (Canonical.Unmapped.Count > 0) sb.AppendLine(ci, $"unmapped:     {string.Join(", ", Canonical.Unmapped)}");
        sb.AppendLine(ci, $"arrays ({ck.Arrays.Count}):");
        int w = ck.Arrays.Count == 0 ? 0 : ck.Arrays.Max(x => x.Name.Length);
        foreach (var x in ck.Arrays)
            sb.AppendLine(ci, $"  {x.Name.PadRight(w)}  {ShapeText(x.Shape),-20} {x.SourceDType.NumpyName()}");
        return sb.ToString();
    }

    private static string ShapeText(int[] s) => s.Length == 1 ? $"({s[0]},)" : "(" + string.Join(", ", s) + ")";

    public string ToJson()
    {
        var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms, new JsonWriterOptions { Indented = true }))
        {
            var ck = Checkpoint;
            w.WriteStartObject();
            w.WriteString("file", ck.Path);
            w.WriteString("format", FormatName(ck.Format));
            w.WriteString("naming", Canonical.Naming.ToString().ToLowerInvariant());
            w.WriteNumber("parameters", ck.ParameterCount);
            if (Architecture is { } a)
            {
                w.WriteNumber("gflops", Math.Round(a.GFlops, 6));
                w.WritePropertyName("architecture");
                a.WriteJson(w);
            }
            else
            {
                w.WriteNull("gflops");
                w.WriteNull("architecture");
                w.WriteString("architecture_error", ArchitectureError);
            }
            w.WriteStartObject("metadata");
            if (!ck.Metadata.IsEmpty)
                foreach (var (k, v) in ck.Metadata.ToDictionary()) w.WriteString(k, v);
            w.WriteEndObject();
            w.WriteStartArray("unmapped");
            foreach (var u in Canonical.Unmapped) w.WriteStringValue(u);
            w.WriteEndArray();
            w.WriteStartArray("arrays");
            foreach (var x in ck.Arrays)
            {
                w.WriteStartObject();
                w.WriteString("name", x.Name);
                w.WriteStartArray("shape");
                foreach (var d in x.Shape) w.WriteNumberValue(d);
                w.WriteEndArray();
                w.WriteString("dtype", x.SourceDType.NumpyName());
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        return Encoding.UTF8.GetString(ms.ToArray());
    }
}

/// <summary>`vit convert`: any readable checkpoint → .safetensors / .npz / .pth, optionally renamed to timm names.</summary>
public static class CheckpointConverter
{
    /// <summary>Returns warnings (e.g. metadata the output format cannot hold).</summary>
    public static List<string> Convert(string input, string output, bool toTimmNames, DType dtype = DType.F32)
    {
        var warnings = new List<string>();
        var outFmt = CheckpointFile.FormatFromExtension(output);
        var ck = CheckpointFile.Load(input);
        List<KeyValuePair<string, Tensor>> tensors;
        if (toTimmNames)
        {
            var c = KeyMaps.ToCanonical(ck.Tensors);
            tensors = c.Tensors;
            if (c.Unmapped.Count > 0) warnings.Add($"kept {c.Unmapped.Count} unmapped key(s) under their original names: {string.Join(", ", c.Unmapped.Take(5))}{(c.Unmapped.Count > 5 ? ", ..." : "")}");
        }
        else tensors = ck.Tensors;
        var metaKeys = ck.Metadata.ToDictionary().Keys.Where(k => k != CheckpointMetadata.FormatKey).ToList();
        if (outFmt != CheckpointFormat.SafeTensors && metaKeys.Count > 0)
            warnings.Add($"metadata ({string.Join(", ", metaKeys)}) is dropped: only .safetensors can hold it");
        if (outFmt == CheckpointFormat.Npz && dtype == DType.BF16)
            throw new CheckpointException(output, "bfloat16 cannot be stored in .npz; use f32 or f16");
        if (ck.Arrays.Any(a => !a.SourceDType.IsFloat()))
            warnings.Add("integer/bool arrays are written as floating point");
        CheckpointFile.Save(output, tensors, ck.Metadata, dtype);
        return warnings;
    }
}
