using System.Diagnostics;
using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>One line of a profile: an operation, how often it ran and the wall time spent in it.</summary>
public readonly record struct ProfileEntry(string Name, long Calls, double Seconds);

/// <summary>
/// Per-operation wall-time counters for `vit bench model --profile`. Operations register a name once
/// (<see cref="Register"/>) and wrap their work in <c>using (Profiler.Time(id)) { ... }</c>; while
/// <see cref="Enabled"/> is false that costs one branch and records nothing. Timing is by the calling thread
/// (the one that issues kernels), so nested operations are counted in both (report leaves, not parents).
/// </summary>
public static class Profiler
{
    private static readonly Lock Gate = new();
    private static string[] names = new string[64];
    private static long[] calls = new long[64];
    private static long[] ticks = new long[64];
    private static int count;

    /// <summary>When false (the default) timers record nothing.</summary>
    public static bool Enabled { get; set; }

    /// <summary>Returns the id of <paramref name="name"/>, registering it on first use.</summary>
    public static int Register(string name)
    {
        lock (Gate)
        {
            for (int i = 0; i < count; i++) if (names[i] == name) return i;
            if (count == names.Length)
            {
                Array.Resize(ref names, count * 2);
                Array.Resize(ref calls, count * 2);
                Array.Resize(ref ticks, count * 2);
            }
            names[count] = name;
            return count++;
        }
    }

    /// <summary>Starts timing operation <paramref name="id"/>; dispose the result to stop.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Timer Time(int id) => Enabled ? new Timer(id, Stopwatch.GetTimestamp()) : default;

    /// <summary>Clears every counter (registrations are kept).</summary>
    public static void Reset()
    {
        lock (Gate)
        {
            Array.Clear(calls);
            Array.Clear(ticks);
        }
    }

    /// <summary>Counters of every operation that ran since the last <see cref="Reset"/>, most time first.</summary>
    public static IReadOnlyList<ProfileEntry> Snapshot()
    {
        lock (Gate)
        {
            var list = new List<ProfileEntry>();
            for (int i = 0; i < count; i++)
                if (calls[i] > 0) list.Add(new ProfileEntry(names[i], calls[i], ticks[i] / (double)Stopwatch.Frequency));
            return [.. list.OrderByDescending(e => e.Seconds)];
        }
    }

    /// <summary>Adds one call of <paramref name="elapsed"/> stopwatch ticks to operation <paramref name="id"/>.</summary>
    internal static void Record(int id, long elapsed) => Add(id, elapsed);

    private static void Add(int id, long elapsed)
    {
        Interlocked.Increment(ref calls[id]);
        Interlocked.Add(ref ticks[id], elapsed);
    }

    /// <summary>A running timer (a no-op when profiling was off at its start).</summary>
    public readonly struct Timer : IDisposable
    {
        private readonly int id;
        private readonly long start;

        internal Timer(int id, long start)
        {
            this.id = id + 1;
            this.start = start;
        }

        public void Dispose()
        {
            if (id != 0) Add(id - 1, Stopwatch.GetTimestamp() - start);
        }
    }
}
