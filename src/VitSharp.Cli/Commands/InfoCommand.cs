using System.CommandLine;
using VitSharp.Checkpoints;

namespace VitSharp.Cli.Commands;

/// <summary>`vit info FILE [--json]`: what a checkpoint holds and which ViT it is.</summary>
internal static class InfoCommand
{
    internal static Command Build()
    {
        var file = new Argument<string>("file") { Description = "Checkpoint: .safetensors, .npz/.npy, .pth/.pt" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of text" };
        var cmd = new Command("info", "Show a checkpoint's format, detected architecture, arrays (shape, dtype), parameter count and GFLOPs per image.");
        cmd.Arguments.Add(file);
        cmd.Options.Add(json);
        cmd.SetAction(parse =>
        {
            var report = CheckpointReport.Inspect(parse.GetValue(file)!);
            Console.Out.Write(parse.GetValue(json) ? report.ToJson() + Environment.NewLine : report.ToText());
            return 0;
        });
        return cmd;
    }
}
