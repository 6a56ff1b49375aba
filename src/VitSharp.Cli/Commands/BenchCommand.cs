using System.CommandLine;

namespace VitSharp.Cli.Commands;

/// <summary>`vit bench ...`: speed measurements. Subcommands register in <see cref="Subcommands"/>.</summary>
internal static class BenchCommand
{
    public static Command Build()
    {
        var bench = new Command("bench", "Measure speed (GEMM, data pipeline, whole models) against the same-run FMA peak.");
        foreach (var c in Subcommands()) bench.Subcommands.Add(c);
        return bench;
    }

    private static IEnumerable<Command> Subcommands()
    {
        yield return BenchGemmCommand.Build();
        yield return BenchDataCommand.Build();
        yield return BenchModelCommand.Build();
    }
}
