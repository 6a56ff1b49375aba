using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Data;

/// <summary>Options for <see cref="DataLoader"/>.</summary>
public sealed class DataLoaderOptions
{
    public int BatchSize { get; init; } = 32;
    public bool Shuffle { get; init; } = true;
    public bool DropLast { get; init; }
    public ulong Seed { get; init; }

    /// <summary>Decode/augment threads; 0 = on the consuming thread. Results do not depend on this.</summary>
    public int Workers { get; init; } = Math.Max(1, Environment.ProcessorCount);

    /// <summary>Batches that may be prepared ahead of the consumer (bounds memory).</summary>
    public int Prefetch { get; init; } = 2;

    /// <summary>Keep decoded images (after <see cref="CacheTransform"/>) in memory across epochs.</summary>
    public bool Cache { get; init; }

    /// <summary>A deterministic step applied before caching (e.g. Resize(256) so the cache holds small images).</summary>
    public IImageTransform? CacheTransform { get; init; }

    public BadImagePolicy OnBadImage { get; init; } = BadImagePolicy.Fail;

    /// <summary>Receives one line per skipped file.</summary>
    public Action<string>? Report { get; init; }

    /// <summary>Batch-level Mixup/CutMix producing soft targets.</summary>
    public MixupCutmix? Mixup { get; init; }
}

/// <summary>One batch: images (B,C,H,W) owned by the GC (they outlive any TensorScope), labels, optional soft targets.</summary>
public sealed class Batch
{
    public required Tensor Images { get; init; }
    public required int[] Labels { get; init; }

    /// <summary>B × classes, row-major, when Mixup/CutMix is on.</summary>
    public float[]? SoftTargets { get; init; }

    /// <summary>Dataset indices of the samples.</summary>
    public required int[] Indices { get; init; }
    public int Epoch { get; init; }
    public int Index { get; init; }
    public int Count => Labels.Length;
}

/// <summary>
/// Batches from an <see cref="IImageDataset"/> through a <see cref="Compose"/> pipeline. Each epoch has its own
/// seeded order; each sample its own <see cref="Rng"/> derived from (seed, epoch, position), so the output is
/// identical for a seed whatever the number of workers. Decoding and augmentation run on dedicated threads that
/// stay at most <see cref="DataLoaderOptions.Prefetch"/> batches ahead of the consumer.
/// </summary>
public sealed class DataLoader
{
    private readonly IImageDataset dataset;
    private readonly Compose transform;
    private readonly DataLoaderOptions opt;
    private readonly Image?[]? cache;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<int, bool> bad = new();
    private long samplesLoaded;

    public DataLoader(IImageDataset dataset, Compose transform, DataLoaderOptions? options = null)
    {
        this.dataset = dataset;
        this.transform = transform;
        opt = options ?? new DataLoaderOptions();
        if (opt.BatchSize <= 0) throw new VitException($"batch size {opt.BatchSize} must be positive");
        if (opt.Workers < 0) throw new VitException($"workers {opt.Workers} must be >= 0");
        if (opt.Prefetch < 1) throw new VitException($"prefetch {opt.Prefetch} must be >= 1");
        if (dataset.Count == 0) throw new VitException("dataset is empty");
        if (opt.Cache) cache = new Image?[dataset.Count];
    }

    public IImageDataset Dataset => dataset;
    public DataLoaderOptions Options => opt;

    /// <summary>Samples decoded and transformed so far (progress).</summary>
    public long SamplesLoaded => Interlocked.Read(ref samplesLoaded);

    public int BatchesPerEpoch => opt.DropLast ? dataset.Count / opt.BatchSize : (dataset.Count + opt.BatchSize - 1) / opt.BatchSize;

    /// <summary>Samples per epoch after drop_last.</summary>
    public int SamplesPerEpoch => opt.DropLast ? BatchesPerEpoch * opt.BatchSize : dataset.Count;

    /// <summary>The sample order of an epoch.</summary>
    public int[] Order(int epoch)
    {
        var order = Enumerable.Range(0, dataset.Count).ToArray();
        if (opt.Shuffle) new Rng(opt.Seed ^ 0x243F6A8885A308D3UL, (ulong)epoch + 1).Shuffle(order.AsSpan());
        return order;
    }

    private static Rng SampleRng(ulong seed, int epoch, int position) =>
        new(seed + 0x9E3779B97F4A7C15UL * ((ulong)epoch + 1), (ulong)position + 1);

    private sealed class Builder
    {
        public int Remaining;
        public Storage? Data;
        public int C, H, W;
        public Exception? Error;
        public float[]? Soft;
        public bool Done;
    }

    /// <summary>The batches of one epoch, in order. Stopping the enumeration early stops the workers.</summary>
    public IEnumerable<Batch> Epoch(int epoch, CancellationToken cancel = default)
    {
        var order = Order(epoch);
        int nb = BatchesPerEpoch, bs = opt.BatchSize;
        int total = SamplesPerEpoch;
        var builders = new Builder[nb];
        for (int b = 0; b < nb; b++) builders[b] = new Builder { Remaining = Math.Min(bs, total - b * bs) };
        var gate = new object();
        int next = 0, consumed = 0;
        bool stop = false;

        void RunSample(int p)
        {
            int b = p / bs, slot = p % bs;
            var bl = builders[b];
            try
            {
                var (data, c, h, w) = Produce(order, p, epoch);
                lock (bl)
                {
                    if (bl.Data == null)
                    {
                        using (TensorScope.Suspend()) bl.Data = Storage.Allocate(BatchLen(b, bs, total) * c * h * w, clear: false);
                        (bl.C, bl.H, bl.W) = (c, h, w);
                    }
                    else if ((bl.C, bl.H, bl.W) != (c, h, w))
                        throw new VitException($"sample {dataset.Describe(order[p])} transformed to {c}x{h}x{w}, others in the batch are {bl.C}x{bl.H}x{bl.W}; add a Resize/CenterCrop to a fixed size");
                }
                data.AsSpan().CopyTo(bl.Data.AsSpan().Slice(slot * c * h * w));
                Interlocked.Increment(ref samplesLoaded);
            }
            catch (Exception e)
            {
                lock (bl) bl.Error ??= e;
            }
            bool last;
            lock (bl) last = --bl.Remaining == 0;
            if (last)
            {
                if (bl.Error == null && opt.Mixup != null)
                {
                    try
                    {
                        var labels = BatchLabels(order, b, bs, total);
                        using (TensorScope.Suspend())
                            bl.Soft = opt.Mixup.Apply(new Tensor(bl.Data!, [labels.Length, bl.C, bl.H, bl.W]), labels,
                                new Rng(opt.Seed ^ 0x13198A2E03707344UL, ((ulong)epoch << 32) | (uint)b), out _);
                    }
                    catch (Exception e) { bl.Error = e; }
                }
                lock (gate) { bl.Done = true; Monitor.PulseAll(gate); }
            }
        }

        void WorkerLoop()
        {
            while (true)
            {
                int p;
                lock (gate)
                {
                    // claim the next position only once it is inside the prefetch window (claiming before waiting
                    // would let two workers take the same position)
                    while (!stop && next < total && next / bs >= consumed + opt.Prefetch) Monitor.Wait(gate);
                    if (stop || next >= total) return;
                    p = next++;
                }
                RunSample(p);
            }
        }

        var threads = new List<Thread>();
        if (opt.Workers > 0)
        {
            for (int t = 0; t < opt.Workers; t++)
            {
                var th = new Thread(WorkerLoop) { IsBackground = true, Name = $"vit-data-{t}" };
                threads.Add(th);
                th.Start();
            }
        }
        try
        {
            for (int b = 0; b < nb; b++)
            {
                var bl = builders[b];
                if (opt.Workers == 0)
                {
                    for (int p = b * bs; p < b * bs + BatchLen(b, bs, total); p++) RunSample(p);
                }
                else
                {
                    lock (gate)
                        while (!bl.Done)
                        {
                            cancel.ThrowIfCancellationRequested();
                            Monitor.Wait(gate, 200);
                        }
                }
                if (bl.Error != null)
                    throw bl.Error is VitException ? bl.Error : new VitException($"data loading failed: {bl.Error.Message}", bl.Error);
                var labels = BatchLabels(order, b, bs, total);
                Tensor images;
                using (TensorScope.Suspend()) images = new Tensor(bl.Data!, [labels.Length, bl.C, bl.H, bl.W]);
                var batch = new Batch
                {
                    Images = images,
                    Labels = labels,
                    SoftTargets = bl.Soft,
                    Indices = order.AsSpan(b * bs, labels.Length).ToArray(),
                    Epoch = epoch,
                    Index = b,
                };
                builders[b] = null!;
                lock (gate) { consumed = b + 1; Monitor.PulseAll(gate); }
                yield return batch;
            }
        }
        finally
        {
            lock (gate) { stop = true; Monitor.PulseAll(gate); }
            foreach (var th in threads) th.Join();
        }
    }

    private static int BatchLen(int b, int bs, int total) => Math.Min(bs, total - b * bs);

    private int[] BatchLabels(int[] order, int b, int bs, int total)
    {
        int n = BatchLen(b, bs, total);
        var labels = new int[n];
        for (int i = 0; i < n; i++) labels[i] = dataset.GetLabel(order[b * bs + i]);
        return labels;
    }

    /// <summary>Decode (or fetch from cache) and transform the sample at epoch position <paramref name="p"/>.</summary>
    private (float[] Data, int C, int H, int W) Produce(int[] order, int p, int epoch)
    {
        int index = order[p];
        var img = LoadImage(index);
        return transform.Apply(img, SampleRng(opt.Seed, epoch, p));
    }

    /// <summary>
    /// The (cached) image for a dataset index. With the Skip policy a bad file is reported once and the next
    /// readable index is used instead, so batches keep their size and stay deterministic.
    /// </summary>
    private Image LoadImage(int index)
    {
        int n = dataset.Count;
        for (int tries = 0; tries < n; tries++)
        {
            int i = (index + tries) % n;
            if (bad.ContainsKey(i)) continue;
            var cached = cache?[i];
            if (cached != null) return cached;
            try
            {
                var img = dataset.GetImage(i);
                if (opt.CacheTransform != null) img = opt.CacheTransform.Apply(img, new Rng(0));
                if (cache != null) cache[i] = img;
                return img;
            }
            catch (VitException e) when (opt.OnBadImage == BadImagePolicy.Skip)
            {
                if (bad.TryAdd(i, true)) opt.Report?.Invoke($"skipping unreadable image {dataset.Describe(i)}: {e.Message}");
            }
            catch (VitException e) when (e is not InvalidImageException)
            {
                // decoder errors already name the file; anything else gets the sample's origin added
                throw new VitException($"{dataset.Describe(i)}: {e.Message}", e);
            }
        }
        throw new VitException("no readable images in the dataset");
    }
}
