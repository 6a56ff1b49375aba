using System.CommandLine;
using VitSharp.Checkpoints;

namespace VitSharp.Cli.Commands;

/// <summary>`vit convert IN OUT [--to-names timm] [--dtype f32|f16|bf16]`.</summary>
internal static class ConvertCommand
{
    internal static Command Build()
    {
        var input = new Argument<string>("in") { Description = "Any readable checkpoint (.safetensors, .npz/.npy, .pth/.pt)" };
        var output = new Argument<string>("out") { Description = "Output file; the extension picks the format (.safetensors, .npz, .pth)" };
        var names = new Option<string?>("--to-names") { Description = "Rename parameters: 'timm' (canonical; fuses HF q/k/v, applies Google transposes)" };
        var dtype = new Option<string>("--dtype") { Description = "Stored float type: f32 (default), f16, bf16", DefaultValueFactory = _ => "f32" };
        var cmd = new Command("convert", "Convert a checkpoint between formats (safetensors, npz, PyTorch) and optionally to timm names.");
        cmd.Arguments.Add(input);
        cmd.Arguments.Add(output);
        cmd.Options.Add(names);
        cmd.Options.Add(dtype);
        cmd.SetAction(parse =>
        {
            string? n = parse.GetValue(names);
            if (n != null && n != "timm") throw new VitException($"--to-names: unknown naming '{n}' (supported: timm)");
            var dt = parse.GetValue(dtype) switch
            {
                "f32" or "float32" => DType.F32,
                "f16" or "float16" => DType.F16,
                "bf16" or "bfloat16" => DType.BF16,
                var s => throw new VitException($"--dtype: unknown type '{s}' (f32, f16, bf16)"),
            };
            string inPath = parse.GetValue(input)!, outPath = parse.GetValue(output)!;
            foreach (var w in CheckpointConverter.Convert(inPath, outPath, n == "timm", dt)) Console.Error.WriteLine($"warning: {w}");
            Console.Out.WriteLine($"wrote {outPath}");
            return 0;
        });
        return cmd;
    }
}
