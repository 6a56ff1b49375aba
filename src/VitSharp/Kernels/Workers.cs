using System.Runtime.ExceptionServices;

namespace VitSharp.Kernels;

/// <summary>A unit of parallel work: <see cref="Execute"/> runs for each index in [0, count).</summary>
public interface IParallelJob
{
    void Execute(int index);
}

/// <summary>
/// Parallel loops for kernels on a persistent pool of dedicated threads. Jobs are structs so a call allocates
/// nothing; the thread count defaults to the machine's cores (override with VIT_THREADS or
/// <see cref="ThreadCount"/>).
/// </summary>
/// <remarks>
/// <para>Partition: with T = min(ThreadCount, count) participants, participant t runs the contiguous index range
/// [t·count/T, (t+1)·count/T) in ascending order. Participant 0 is the calling thread. The split depends only on
/// count and T, so a job whose indices write disjoint outputs gives identical results on every run.</para>
/// <para>Idle workers spin for a short while (back-to-back kernel calls find them awake), then block on a monitor,
/// so an idle pool never burns a core (unlike OpenMP/OpenBLAS busy-waiting, which starves a 2-vCPU machine).</para>
/// <para>A For called from inside a job, or while another thread owns the pool, runs inline on the calling
/// thread: no deadlock, same results. The first exception thrown by a job is rethrown to the caller after every
/// participant has stopped.</para>
/// </remarks>
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

    /// <summary>True on a thread that is currently running a job index (nested loops then run inline).</summary>
    [ThreadStatic] private static bool inJob;

    /// <summary>True while the current thread runs a job index: a For issued now would run inline, so kernels
    /// plan for one thread.</summary>
    internal static bool InsideJob => inJob;

    /// <summary>Runs job.Execute(i) for i in [0, count), split over the workers; returns when all are done.</summary>
    public static void For<TJob>(int count, TJob job) where TJob : struct, IParallelJob
    {
        if (count <= 0) return;
        int participants = Math.Min(threadCount, count);
        if (participants == 1 || inJob || !Pool.TryAcquire())
        {
            RunInline(0, count, ref job);
            return;
        }
        try
        {
            var d = Dispatcher<TJob>.Instance;
            d.Job = job;
            Pool.Run(d, count, participants);
            d.Job = default;
        }
        finally
        {
            Pool.Release();
        }
    }

    private static void RunInline<TJob>(int start, int end, ref TJob job) where TJob : struct, IParallelJob
    {
        bool saved = inJob;
        inJob = true;
        try
        {
            for (int i = start; i < end; i++) job.Execute(i);
        }
        finally
        {
            inJob = saved;
        }
    }

    /// <summary>Type-erased handle the worker threads call; one cached instance per job type, so no allocation.</summary>
    private abstract class DispatcherBase
    {
        public abstract void Run(int start, int end);
    }

    private sealed class Dispatcher<TJob> : DispatcherBase where TJob : struct, IParallelJob
    {
        public static readonly Dispatcher<TJob> Instance = new();
        public TJob Job;

        public override void Run(int start, int end)
        {
            // Each participant works on its own copy so a job's private fields are never shared between threads.
            var local = Job;
            for (int i = start; i < end; i++) local.Execute(i);
        }
    }

    /// <summary>The persistent threads and the hand-off protocol. Only the owner (see TryAcquire) posts work.</summary>
    private static class Pool
    {
        // Roughly 50–100 µs of polling before a worker blocks: kernels in a forward pass are issued back to back.
        private const int SpinIterations = 4000;

        private static int busy;
        private static readonly object Sleep = new();
        private static readonly object Done = new();
        private static readonly List<Thread> Threads = [];

        // Current job: written by the owner before the epoch bump, read by workers after they see it.
        private static DispatcherBase? current;
        private static int jobCount;
        // The ticket packs (sequence << 16 | participants) into one word, so a worker decides whether it takes part
        // from the same read that tells it a job was posted; only participants read the job fields, and the owner
        // does not touch them until every participant has finished.
        private static long epoch;
        private static long sequence;
        private static int sleepers;
        private static int pending;
        private static bool ownerWaiting;
        private static Exception? error;

        public static bool TryAcquire() => Interlocked.CompareExchange(ref busy, 1, 0) == 0;

        public static void Release() => Volatile.Write(ref busy, 0);

        public static void Run(DispatcherBase d, int count, int participants)
        {
            participants = Math.Min(participants, 0xFFFF);
            EnsureThreads(participants - 1);
            current = d;
            jobCount = count;
            error = null;
            Volatile.Write(ref pending, participants - 1);
            sequence++;
            Interlocked.Exchange(ref epoch, (sequence << 16) | (uint)participants); // full fence: publishes the fields above, then we read sleepers
            if (Volatile.Read(ref sleepers) > 0)
            {
                lock (Sleep) Monitor.PulseAll(Sleep);
            }

            bool saved = inJob;
            inJob = true;
            try
            {
                d.Run(0, (int)((long)count / participants));
            }
            catch (Exception e)
            {
                Interlocked.CompareExchange(ref error, e, null);
            }
            finally
            {
                inJob = saved;
            }

            WaitForWorkers();
            current = null;
            var err = error;
            error = null;
            if (err != null) ExceptionDispatchInfo.Capture(err).Throw();
        }

        private static void WaitForWorkers()
        {
            var spin = new SpinWait();
            for (int i = 0; i < SpinIterations; i++)
            {
                if (Volatile.Read(ref pending) == 0) return;
                spin.SpinOnce(sleep1Threshold: -1);
            }
            lock (Done)
            {
                ownerWaiting = true;
                while (Volatile.Read(ref pending) != 0) Monitor.Wait(Done);
                ownerWaiting = false;
            }
        }

        private static void EnsureThreads(int needed)
        {
            while (Threads.Count < needed)
            {
                int id = Threads.Count + 1; // participant number; 0 is the caller
                var t = new Thread(() => WorkerLoop(id), 256 * 1024)
                {
                    IsBackground = true,
                    Name = $"vit-worker-{id}",
                };
                Threads.Add(t);
                t.Start();
            }
        }

        private static void WorkerLoop(int id)
        {
            inJob = true; // anything a job calls from a worker runs inline
            long seen = Volatile.Read(ref epoch);
            while (true)
            {
                long now = WaitForEpoch(seen);
                seen = now;
                int participants = (int)(now & 0xFFFF);
                if (id >= participants) continue; // this job does not use us
                int count = jobCount;
                int start = (int)((long)count * id / participants);
                int end = (int)((long)count * (id + 1) / participants);
                try
                {
                    current!.Run(start, end);
                }
                catch (Exception e)
                {
                    Interlocked.CompareExchange(ref error, e, null);
                }
                if (Interlocked.Decrement(ref pending) == 0)
                {
                    // The owner may have given up spinning; the lock orders this check with its Wait.
                    lock (Done)
                    {
                        if (ownerWaiting) Monitor.PulseAll(Done);
                    }
                }
            }
        }

        private static long WaitForEpoch(long seen)
        {
            var spin = new SpinWait();
            for (int i = 0; i < SpinIterations; i++)
            {
                long e = Volatile.Read(ref epoch);
                if (e != seen) return e;
                spin.SpinOnce(sleep1Threshold: -1);
            }
            lock (Sleep)
            {
                Interlocked.Increment(ref sleepers); // full fence, pairs with the owner's epoch bump
                try
                {
                    long e;
                    while ((e = Volatile.Read(ref epoch)) == seen) Monitor.Wait(Sleep);
                    return e;
                }
                finally
                {
                    Interlocked.Decrement(ref sleepers);
                }
            }
        }
    }
}
