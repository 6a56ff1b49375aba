using System.Globalization;
using Spectre.Console;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>
/// Renders the trainer's progress callbacks. On a terminal: a Spectre.Console live bar per phase (loss, accuracy,
/// lr, img/s, ETA of the phase and of the whole run) with the per-epoch lines printed above it. Otherwise
/// (redirected output, CI, tests) only the plain lines, so logs carry no ANSI sequences or carriage returns.
/// </summary>
internal sealed class TrainProgress
{
    private const int BarWidth = 16;
    private readonly IAnsiConsole? console;
    private readonly int epochs;
    private ProgressTask? task;
    private double secondsPerEpoch = double.NaN;
    private int epochsTimed;

    private TrainProgress(IAnsiConsole? console, int epochs)
    {
        this.console = console;
        this.epochs = epochs;
    }

    /// <summary>Whether a live bar can be drawn: stdout is a terminal that is not "dumb", outside CI.</summary>
    internal static bool Interactive =>
        !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("TERM") is not "dumb" && Environment.GetEnvironmentVariable("CI") is null;

    /// <summary>Runs <paramref name="body"/> with a renderer: live when <paramref name="live"/>, plain lines otherwise.
    /// <paramref name="epochs"/> 0 means a single evaluation pass (no epoch counter).</summary>
    internal static T Run<T>(bool live, int epochs, Func<TrainProgress, T> body)
    {
        if (!live) return body(new TrainProgress(null, epochs));
        var console = AnsiConsole.Create(new AnsiConsoleSettings
        {
            Out = new AnsiConsoleOutput(Console.Out),
            Ansi = AnsiSupport.Detect,
            ColorSystem = ColorSystemSupport.Detect,
            Interactive = InteractionSupport.Yes,
        });
        T result = default!;
        console.Progress()
            .AutoClear(true)
            .HideCompleted(true)
            .Columns(new ProgressBarColumn { Width = BarWidth }, new PercentageColumn(), new TaskDescriptionColumn { Alignment = Justify.Left })
            .Start(ctx =>
            {
                var p = new TrainProgress(console, epochs) { task = ctx.AddTask("starting", autoStart: true, maxValue: 1) };
                result = body(p);
                p.task!.Value = p.task.MaxValue;
            });
        return result;
    }

    /// <summary>--progress auto|bar|plain → live or not.</summary>
    internal static bool Resolve(string mode) => mode switch
    {
        "auto" => Interactive,
        "bar" => true,
        "plain" => false,
        _ => throw new VitException($"--progress must be auto, bar or plain (got '{mode}')"),
    };

    /// <summary>A line of the log (epoch summaries, messages): above the bar when live.</summary>
    internal void Line(string text)
    {
        if (console != null) console.WriteLine(text);
        else Console.Out.WriteLine(text);
    }

    /// <summary>One finished step of a phase (train or val).</summary>
    internal void Step(StepProgress p)
    {
        if (task == null) return;
        var inv = CultureInfo.InvariantCulture;
        // (priority, text) in display order; the least important fields go first when the terminal is narrow.
        var fields = new List<(int Priority, string Text)>
        {
            (0, epochs > 0 ? $"{p.Phase} {p.Epoch + 1}/{epochs}" : "evaluating"),
            (1, $"{p.Batch}/{p.Batches}"),
            (2, $"loss {p.Loss.ToString("F4", inv)}"),
            (3, $"acc {(p.Accuracy * 100).ToString("F2", inv)}%"),
        };
        if (p.Phase == "train") fields.Add((6, $"lr {p.Lr.ToString("0.##e+0", inv)}"));
        fields.Add((5, $"{p.ImagesPerSecond.ToString("F0", inv)} img/s"));
        fields.Add((4, $"ETA {Clock(p.Eta)}"));
        if (double.IsFinite(secondsPerEpoch))
        {
            // Remaining whole epochs at the measured pace, plus what is left of this one.
            double left = (epochs - p.Epoch - 1) * secondsPerEpoch + (p.Phase == "train" ? p.Eta.TotalSeconds : 0);
            fields.Add((7, $"run ETA {Clock(TimeSpan.FromSeconds(Math.Max(0, left)))}"));
        }
        int room = Math.Max(20, console!.Profile.Width - BarWidth - 10);
        while (fields.Count > 1 && fields.Sum(f => f.Text.Length + 2) - 2 > room)
            fields.Remove(fields.MaxBy(f => f.Priority));
        task.MaxValue = Math.Max(1, p.Batches);
        task.Value = p.Batch;
        task.Description = Markup.Escape(string.Join("  ", fields.Select(f => f.Text)));
    }

    /// <summary>An epoch ended (after validation): updates the pace used for the run's ETA.</summary>
    internal void EpochDone(double seconds)
    {
        epochsTimed++;
        secondsPerEpoch = double.IsFinite(secondsPerEpoch) ? (secondsPerEpoch * (epochsTimed - 1) + seconds) / epochsTimed : seconds;
    }

    private static string Clock(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}:{t.Minutes:00}:{t.Seconds:00}" : $"{t.Minutes:00}:{t.Seconds:00}";
}
