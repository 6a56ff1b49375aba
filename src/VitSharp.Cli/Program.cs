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
            if (parse.Errors.Count > 0 && args.Length > 0)
            {
                // A mistyped option or value is a user error like any other: one line and exit code 2, not the help page.
                var names = new List<string>();
                for (var r = parse.CommandResult; r != null; r = r.Parent as System.CommandLine.Parsing.CommandResult)
                    names.Insert(0, r.Command is RootCommand ? "vit" : r.Command.Name);
                Console.Error.WriteLine($"error: {string.Join(" ", parse.Errors.Select(e => e.Message).Distinct())} (see '{string.Join(' ', names)} --help')");
                return 2;
            }
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
