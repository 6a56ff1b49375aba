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
/// <para>Partition: with T = min(ThreadCount, count) participants, participant t owns the contiguous index range
/// [t·count/T, (t+1)·count/T), taken in ascending chunks that shrink as the range empties (at most 1/8 of the range,
/// at most a quarter of what is left). Participant 0 is the calling thread. A participant that finishes early takes
/// unclaimed chunks of a late one (a worker the OS has not scheduled yet, or a core slowed by a neighbour; the small
/// last chunks let the two finish close together), which changes only
/// which thread runs an index, never what it computes: a job whose indices write disjoint outputs gives identical
/// results on every run.</para>
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

    /// <summary>
    /// The persistent threads and the hand-off protocol. Only the owner (see TryAcquire) posts work.
    /// Participant p owns the index range [count·p/P, count·(p+1)/P) and claims it in chunks through its own slot;
    /// a participant that runs out of work takes unclaimed chunks from the others' slots, so a worker the OS has
    /// not scheduled yet (a shared 2-vCPU VM) does not hold the caller up. Which thread runs an index never
    /// changes what the index computes, so results stay those of the static partition.
    /// </summary>
    private static class Pool
    {
        // About 1 ms of polling (pause instructions, no yields) before blocking: kernels in a forward pass are issued
        // with short serial gaps between them, but an idle pool must not keep a core busy for long. With 50 µs the
        // worker often fell asleep in those gaps (ViT-B/16 at batch 1: its start was ~26 µs late per job on average,
        // ~8 µs with ~1 ms of polling, which ran 0.7-4 % faster in 3 alternating pairs on the 2-vCPU VM).
        private static readonly long SpinTicks = Math.Max(1, System.Diagnostics.Stopwatch.Frequency / 1_000);
        private const int SlotStride = 8; // one slot per 64-byte line: no false sharing between claimers

        private static int busy;
        private static readonly object Sleep = new();
        private static readonly object Done = new();
        private static readonly List<Thread> Threads = [];

        // The ticket packs (sequence << 16 | participants) into one word, so a worker decides whether it takes part
        // from the same read that tells it a job was posted.
        private static long epoch;
        private static long sequence;
        // Slot p = (generation << 32 | next unclaimed index of participant p's range). A claim is a CAS that also
        // checks the generation, so a worker that wakes after its job ended cannot claim from a later job; and a
        // successful claim proves the job is still running, so current/jobCount read after it are that job's.
        // The owner writes the slots before jobCount and current, so seeing a new jobCount implies seeing new slots.
        private static long[] slots = new long[SlotStride];
        private static DispatcherBase? current;
        private static int jobCount;
        private static int remaining;
        private static int sleepers;
        private static bool ownerWaiting;
        private static Exception? error;

        public static bool TryAcquire() => Interlocked.CompareExchange(ref busy, 1, 0) == 0;

        public static void Release() => Volatile.Write(ref busy, 0);

        // Profiling only: when each participant ran out of work (one slot per 64-byte line).
        private static long[] doneAt = new long[SlotStride];

        public static void Run(DispatcherBase d, int count, int participants)
        {
            participants = Math.Min(participants, 0xFFFF);
            bool profile = Profiler.Enabled;
            if (profile)
            {
                long start = System.Diagnostics.Stopwatch.GetTimestamp();
                if (doneAt.Length < participants * SlotStride) doneAt = new long[participants * SlotStride];
                for (int p = 0; p < participants; p++) doneAt[p * SlotStride] = start;
            }
            EnsureThreads(participants - 1);
            if (slots.Length < participants * SlotStride) slots = new long[participants * SlotStride];
            sequence++;
            uint gen = (uint)sequence;
            var sl = slots;
            for (int p = 0; p < participants; p++)
                Volatile.Write(ref sl[p * SlotStride], ((long)gen << 32) | (uint)RangeStart(count, participants, p));
            error = null;
            Volatile.Write(ref current, d);
            Volatile.Write(ref jobCount, count);
            Volatile.Write(ref remaining, count);
            Interlocked.Exchange(ref epoch, (sequence << 16) | (uint)participants); // full fence, then read sleepers
            if (Volatile.Read(ref sleepers) > 0)
            {
                lock (Sleep) Monitor.PulseAll(Sleep);
            }

            bool saved = inJob;
            inJob = true;
            try
            {
                Work(gen, participants, 0);
            }
            finally
            {
                inJob = saved;
            }

            WaitForCompletion();
            if (profile) RecordJoinIdle(participants);
            Volatile.Write(ref current, null);
            var err = error;
            error = null;
            if (err != null) ExceptionDispatchInfo.Capture(err).Throw();
        }

        private static int RangeStart(int count, int participants, int p) => (int)((long)count * p / participants);

        private static readonly int JoinIdleId = Profiler.Register("(idle at parallel joins, core-ms ÷ threads)");

        /// <summary>Core time the participants spent waiting for the last one to finish, divided by their number: what
        /// perfect balance would have saved in wall time. A participant that never started counts as idle throughout.</summary>
        private static void RecordJoinIdle(int participants)
        {
            long last = 0, sum = 0;
            for (int p = 0; p < participants; p++) last = Math.Max(last, Volatile.Read(ref doneAt[p * SlotStride]));
            for (int p = 0; p < participants; p++) sum += last - Volatile.Read(ref doneAt[p * SlotStride]);
            Profiler.Record(JoinIdleId, sum / participants);
        }

        /// <summary>Runs participant <paramref name="self"/>'s chunks, then any unclaimed chunks of the others.</summary>
        private static void Work(uint gen, int participants, int self)
        {
            for (int k = 0; k < participants; k++)
            {
                int p = (self + k) % participants;
                while (TryClaim(gen, participants, p, out int start, out int end))
                {
                    try
                    {
                        Volatile.Read(ref current)!.Run(start, end);
                    }
                    catch (Exception e)
                    {
                        Interlocked.CompareExchange(ref error, e, null);
                    }
                    if (Profiler.Enabled)
                    {
                        // Before the count drops: the owner reads these once the count reaches zero.
                        var done = Volatile.Read(ref doneAt);
                        if (self * SlotStride < done.Length) Volatile.Write(ref done[self * SlotStride], System.Diagnostics.Stopwatch.GetTimestamp());
                    }
                    if (Interlocked.Add(ref remaining, start - end) == 0)
                    {
                        // The owner may have stopped spinning; the lock orders this check with its Wait.
                        lock (Done)
                        {
                            if (ownerWaiting) Monitor.PulseAll(Done);
                        }
                    }
                }
            }
        }

        private static bool TryClaim(uint gen, int participants, int p, out int start, out int end)
        {
            var sl = Volatile.Read(ref slots);
            while (true)
            {
                int count = Volatile.Read(ref jobCount);
                if (p * SlotStride >= sl.Length) break;
                long v = Volatile.Read(ref sl[p * SlotStride]);
                if ((uint)(v >> 32) != gen) break; // that job is over
                int next = (int)(uint)v;
                int rangeEnd = RangeStart(count, participants, p + 1);
                if (next >= rangeEnd) break;
                int chunk = Math.Max(1, Math.Min((rangeEnd - RangeStart(count, participants, p)) / 8, (rangeEnd - next) / 4));
                int stop = Math.Min(rangeEnd, next + chunk);
                if (Interlocked.CompareExchange(ref sl[p * SlotStride], ((long)gen << 32) | (uint)stop, v) == v)
                {
                    start = next;
                    end = stop;
                    return true;
                }
            }
            start = end = 0;
            return false;
        }

        private static void WaitForCompletion()
        {
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
            {
                if (Volatile.Read(ref remaining) == 0) return;
                Thread.SpinWait(8);
            }
            lock (Done)
            {
                ownerWaiting = true;
                while (Volatile.Read(ref remaining) != 0) Monitor.Wait(Done);
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
                Work((uint)(now >> 16), participants, id);
            }
        }

        private static long WaitForEpoch(long seen)
        {
            long deadline = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while (System.Diagnostics.Stopwatch.GetTimestamp() < deadline)
            {
                long e = Volatile.Read(ref epoch);
                if (e != seen) return e;
                Thread.SpinWait(8);
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
