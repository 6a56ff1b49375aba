namespace VitSharp.Kernels;

/// <summary>A unit of parallel work: <see cref="Execute"/> runs for each index in [0, count).</summary>
public interface IParallelJob
{
    void Execute(int index);
}

/// <summary>
/// Parallel loops for kernels. Jobs are structs so a call allocates nothing; the thread count defaults to the
/// machine's cores (override with VIT_THREADS or <see cref="ThreadCount"/>).
/// </summary>
public static class Workers
{
    private static int threadCount = ReadThreads();

    public static int ThreadCount
    {
        get => threadCount;
        set => threadCount = Math.Max(1, value);
    }

    private static int ReadThreads()
    {
        var v = Environment.GetEnvironmentVariable("VIT_THREADS");
        return int.TryParse(v, out var n) && n > 0 ? n : Environment.ProcessorCount;
    }

    /// <summary>Runs job.Execute(i) for i in [0, count), split over the workers; returns when all are done.</summary>
    public static void For<TJob>(int count, TJob job) where TJob : struct, IParallelJob
    {
        if (count <= 0) return;
        if (count == 1 || threadCount == 1)
        {
            for (int i = 0; i < count; i++) job.Execute(i);
            return;
        }
        // Placeholder scheduling; the persistent pool replaces this.
        Parallel.For(0, count, new ParallelOptions { MaxDegreeOfParallelism = threadCount }, i => job.Execute(i));
    }
}
