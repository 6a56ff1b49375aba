using System.CommandLine;
using VitSharp.Cli.Commands;

namespace VitSharp.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("VitSharp: Vision Transformers in pure .NET — train, evaluate, predict, convert, benchmark.");
        // Each command lives in Commands/<Name>Command.cs and exposes Build().
        foreach (var cmd in CommandRegistry.All()) root.Subcommands.Add(cmd);
        return Run(root, args);
    }

    /// <summary>Parses and runs; user errors become one line on stderr and exit code 2, never a stack trace.</summary>
    public static int Run(RootCommand root, string[] args)
    {
        try
        {
            var parse = root.Parse(args);
            return parse.Invoke(new InvocationConfiguration { EnableDefaultExceptionHandler = false });
        }
        catch (VitException e)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
        catch (OperationCanceledException)
        {
            Console.Error.WriteLine("cancelled");
            return 130;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"error: {e.Message}");
            return 2;
        }
    }
}
