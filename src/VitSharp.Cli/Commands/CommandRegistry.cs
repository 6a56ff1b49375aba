using System.CommandLine;

namespace VitSharp.Cli.Commands;

/// <summary>The list of top-level commands; one line per command file.</summary>
internal static class CommandRegistry
{
    public static IEnumerable<Command> All()
    {
        yield return BenchCommand.Build();
        yield return AttentionCommand.Build();
        yield return DemoCommand.Build();
        yield return InfoCommand.Build();
        yield return ConvertCommand.Build();
        yield return PredictCommand.Build();
        yield return EvalCommand.Build();
        yield return TrainCommand.Build();
    }
}
