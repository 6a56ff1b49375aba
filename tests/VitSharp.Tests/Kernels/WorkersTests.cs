using VitSharp.Kernels;

namespace VitSharp.Tests.Kernels;

public class WorkersTests
{
    private struct CountJob : IParallelJob
    {
        public int[] Hits;
        public readonly void Execute(int index) => Interlocked.Increment(ref Hits[index]);
    }

    private struct ThrowJob : IParallelJob
    {
        public int Bad;
        public readonly void Execute(int index)
        {
            if (index == Bad) throw new InvalidOperationException($"job {index} failed");
        }
    }

    private struct NestedJob : IParallelJob
    {
        public int[] Hits;
        public int Inner;
        public readonly void Execute(int index) => Workers.For(Inner, new OffsetJob { Hits = Hits, Offset = index * Inner });
    }

    private struct OffsetJob : IParallelJob
    {
        public int[] Hits;
        public int Offset;
        public readonly void Execute(int index) => Interlocked.Increment(ref Hits[Offset + index]);
    }

    private static void WithThreads(int threads, Action body)
    {
        int saved = Workers.ThreadCount;
        Workers.ThreadCount = threads;
        try { body(); }
        finally { Workers.ThreadCount = saved; }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(5)]
    public void EveryIndexRunsExactlyOnce(int threads)
    {
        WithThreads(threads, () =>
        {
            foreach (int count in new[] { 0, 1, 2, 3, 7, 64, 1001 })
            {
                for (int rep = 0; rep < 20; rep++)
                {
                    var hits = new int[count];
                    Workers.For(count, new CountJob { Hits = hits });
                    Assert.All(hits, h => Assert.Equal(1, h));
                }
            }
        });
    }

    [Fact]
    public void Profiler_RecordsIdleTimeAtJoins()
    {
        WithThreads(2, () =>
        {
            bool was = Profiler.Enabled;
            Profiler.Enabled = true;
            try
            {
                var hits = new int[64];
                for (int rep = 0; rep < 10; rep++) Workers.For(hits.Length, new CountJob { Hits = hits });
                var entry = Profiler.Snapshot().FirstOrDefault(e => e.Name.StartsWith("(idle at parallel joins", StringComparison.Ordinal));
                Assert.True(entry.Calls >= 1, "no idle-at-joins entry recorded");
                Assert.True(entry.Seconds >= 0);
            }
            finally
            {
                Profiler.Enabled = was;
            }
        });
    }

    [Fact]
    public void ExceptionsPropagateFromCallerAndWorkerParts()
    {
        WithThreads(3, () =>
        {
            foreach (int bad in new[] { 0, 5, 9 })
            {
                var ex = Assert.Throws<InvalidOperationException>(() => Workers.For(10, new ThrowJob { Bad = bad }));
                Assert.Contains($"job {bad}", ex.Message);
            }
            // The pool is still usable afterwards.
            var hits = new int[100];
            Workers.For(100, new CountJob { Hits = hits });
            Assert.All(hits, h => Assert.Equal(1, h));
        });
    }

    [Fact]
    public void NestedForRunsInlineWithoutDeadlock()
    {
        WithThreads(2, () =>
        {
            var hits = new int[13 * 17];
            Workers.For(13, new NestedJob { Hits = hits, Inner = 17 });
            Assert.All(hits, h => Assert.Equal(1, h));
        });
    }

    [Fact]
    public void ConcurrentCallersFromManyThreads()
    {
        WithThreads(2, () =>
        {
            var tasks = Enumerable.Range(0, 8).Select(_ => Task.Run(() =>
            {
                for (int rep = 0; rep < 50; rep++)
                {
                    var hits = new int[333];
                    Workers.For(hits.Length, new CountJob { Hits = hits });
                    Assert.All(hits, h => Assert.Equal(1, h));
                }
            })).ToArray();
            Task.WaitAll(tasks);
        });
    }

    [Fact]
    public void ForDoesNotAllocate()
    {
        WithThreads(2, () =>
        {
            var hits = new int[256];
            var job = new CountJob { Hits = hits };
            Workers.For(hits.Length, job); // first call may create threads
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++) Workers.For(hits.Length, job);
            long after = GC.GetAllocatedBytesForCurrentThread();
            Assert.Equal(0, after - before);
        });
    }
}
