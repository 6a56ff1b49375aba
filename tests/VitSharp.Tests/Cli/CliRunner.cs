using VitSharp.Imaging;

namespace VitSharp.Tests.Cli;

/// <summary>Runs `vit` in-process with stdout and stderr captured (tests using it belong to the serial collection).</summary>
internal static class CliRunner
{
    public static (int Rc, string Out, string Err) Run(params string[] args)
    {
        var stdout = Console.Out;
        var stderr = Console.Error;
        var o = new StringWriter();
        var e = new StringWriter();
        Console.SetOut(o);
        Console.SetError(e);
        try { return (VitSharp.Cli.Program.Main(args), o.ToString(), e.ToString()); }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }

    /// <summary>ROOT/&lt;class&gt;/imgN.png: small RGB images whose dominant channel is the class index.</summary>
    public static string MakeFolder(string root, string[] classes, int perClass = 5, int seed = 3)
    {
        var rng = new Random(seed);
        for (int c = 0; c < classes.Length; c++)
        {
            Directory.CreateDirectory(Path.Combine(root, classes[c]));
            for (int i = 0; i < perClass; i++)
            {
                var img = new Image(20, 18, 3);
                var px = img.Pixels;
                for (int k = 0; k < px.Length; k++) px[k] = (byte)(rng.Next(80) + (k % 3 == c % 3 ? 150 : 0));
                ImageEncoder.SavePng(img, Path.Combine(root, classes[c], $"img{i}.png"));
            }
        }
        return root;
    }

    /// <summary>A user error: exit code 2 and exactly one line "error: ..." on stderr containing <paramref name="expected"/>.</summary>
    public static void AssertUserError(string expected, params string[] args)
    {
        var (rc, _, err) = Run(args);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.True(rc == 2, $"vit {string.Join(' ', args)}: exit code {rc}, stderr: {err}");
        Assert.True(lines.Length == 1 && lines[0].StartsWith("error: ", StringComparison.Ordinal), $"vit {string.Join(' ', args)}: not one error line: {err}");
        Assert.Contains(expected, lines[0]);
    }
}
