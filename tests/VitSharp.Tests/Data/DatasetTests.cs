using System.IO.Compression;
using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Tests.Data;

public sealed class TempDir : IDisposable
{
    public string Path { get; } = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vitdata-" + Guid.NewGuid().ToString("N"));
    public TempDir() => Directory.CreateDirectory(Path);
    public void Dispose() { try { Directory.Delete(Path, true); } catch (IOException) { } }
}

internal static class TestImages
{
    private static readonly string[] Exts = ["JPG", "jpg", "jpeg"];

    public static string FileName(int i) => $"img_{i:D3}." + Exts[i % 3];

    /// <summary>Class folders of small real JPEGs (made by Pillow in the fixture script), mixed-case extensions.</summary>
    public static void MakeFolder(string root, IReadOnlyList<(string Cls, int Count)> classes)
    {
        var names = DataFixtures.Manifest.GetProperty("jpegs").EnumerateArray().Select(e => e.GetString()!).ToArray();
        int k = 0;
        foreach (var (cls, n) in classes)
        {
            Directory.CreateDirectory(System.IO.Path.Combine(root, cls));
            for (int i = 0; i < n; i++)
                File.WriteAllBytes(System.IO.Path.Combine(root, cls, FileName(i)), DataFixtures.Blob(names[k++ % names.Length]));
        }
    }
}

public class DatasetTests
{
    [Fact]
    public void PythonRandom_MatchesCPython()
    {
        var r = new PythonRandom(0);
        Assert.Equal(new uint[] { 3626764237, 1654615998, 3255389356 }, new[] { r.NextUInt32(), r.NextUInt32(), r.NextUInt32() });
        r = new PythonRandom(0);
        Assert.Equal(new[] { 6, 9 }, r.SampleIndices(10, 2));
        Assert.Equal(new[] { 41, 265, 523, 497, 414, 310, 488, 366 }, r.SampleIndices(633, 126)[..8]);
        Assert.Equal(new[] { 3, 1, 19, 0, 6, 5 }, r.SampleIndices(30, 6));
        Assert.Equal(2166296868u, new PythonRandom((1UL << 40) + 5).NextUInt32());
    }

    [Fact]
    public void ImageFolder_Split_LikeTutorial_WritesClassIndices()
    {
        using var dir = new TempDir();
        TestImages.MakeFolder(dir.Path, [("tulips", 10), ("daisy", 7), ("roses", 5)]);
        File.WriteAllText(Path.Combine(dir.Path, "daisy", "notes.txt"), "not an image");
        var log = new List<string>();
        string ci = Path.Combine(dir.Path, "out", "class_indices.json");
        var split = ImageFolder.Split(dir.Path, 0.2, 0, log.Add, ci);
        Assert.Equal(new[] { "daisy", "roses", "tulips" }, split.Classes);
        // int(n * 0.2) per class: daisy 1, roses 1, tulips 2
        Assert.Equal(4, split.Validation.Count);
        Assert.Equal(18, split.Train.Count);
        Assert.Equal("{\n    \"0\": \"daisy\",\n    \"1\": \"roses\",\n    \"2\": \"tulips\"\n}", File.ReadAllText(ci));
        Assert.Equal(split.Classes, ImageFolder.ReadClassIndices(ci));
        Assert.Contains(log, l => l.StartsWith("22 images were found", StringComparison.Ordinal));
        Assert.Contains("18 images for training.", log);
        // Python: random.seed(0); random.sample(range(7), 1) -> [6]; then sample(range(5), 1); then sample(range(10), 2)
        var py = new PythonRandom(0);
        int daisyVal = py.SampleIndices(7, 1)[0];
        Assert.EndsWith(TestImages.FileName(daisyVal), split.Validation.Paths[0]);
        // decoded through the codec, converted to RGB
        var img = split.Train.GetImage(0);
        Assert.Equal(3, img.Channels);
    }

    [Fact]
    public void ImageFolder_Errors_AreClear()
    {
        using var dir = new TempDir();
        var e1 = Assert.Throws<VitException>(() => ImageFolder.Split(Path.Combine(dir.Path, "missing")));
        Assert.Contains("does not exist", e1.Message);
        var e2 = Assert.Throws<VitException>(() => ImageFolder.Split(dir.Path));
        Assert.Contains("no class sub-folders", e2.Message);
        TestImages.MakeFolder(dir.Path, [("a", 6)]);
        Directory.CreateDirectory(Path.Combine(dir.Path, "b"));
        var e3 = Assert.Throws<VitException>(() => ImageFolder.Split(dir.Path));
        Assert.Contains(Path.Combine(dir.Path, "b"), e3.Message);
        Assert.Contains("no images", e3.Message);
    }

    [Fact]
    public void Idx_ReadsGzAndRaw_ValidatesHeaders()
    {
        using var dir = new TempDir();
        var header = new byte[] { 0, 0, 8, 3, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 4 };
        var data = header.Concat(Enumerable.Range(0, 24).Select(i => (byte)i)).ToArray();
        string raw = Path.Combine(dir.Path, "x-idx3-ubyte"), gz = raw + ".gz";
        File.WriteAllBytes(raw, data);
        using (var f = File.Create(gz))
        using (var z = new GZipStream(f, CompressionLevel.Optimal)) z.Write(data);
        foreach (var p in new[] { raw, gz })
        {
            var a = Idx.ReadFile(p);
            Assert.Equal(new[] { 2, 3, 4 }, a.Shape);
            Assert.Equal(23, a.Data[23]);
        }
        File.WriteAllBytes(raw, data[..^1]);
        Assert.Contains("holds 23", Assert.Throws<VitException>(() => Idx.ReadFile(raw)).Message);
        File.WriteAllBytes(raw, [1, 2, 8, 3]);
        Assert.Contains("magic", Assert.Throws<VitException>(() => Idx.ReadFile(raw)).Message);
        File.WriteAllBytes(gz, [0x1f, 0x8b, 1, 2, 3]);
        Assert.Throws<VitException>(() => Idx.ReadFile(gz));
    }

    [Fact]
    public void FashionMnist_Embedded_IsBalancedAndComplete()
    {
        var (train, test) = FashionMnist.LoadEmbedded();
        Assert.Equal(10000, train.Count);
        Assert.Equal(2000, test.Count);
        Assert.Equal((28, 28, 1), (train.Width, train.Height, train.Channels));
        for (int c = 0; c < 10; c++)
        {
            Assert.Equal(1000, train.Labels.Count(l => l == c));
            Assert.Equal(200, test.Labels.Count(l => l == c));
        }
        Assert.Equal("Ankle boot", train.Classes[9]);
        var sub = train.FilterClasses([5, 6, 7]);
        Assert.Equal(3000, sub.Count);
        Assert.Equal(new[] { "Sandal", "Shirt", "Sneaker" }, sub.Classes);
        Assert.True(sub.Labels.All(l => l is >= 0 and < 3));
    }

    [Fact]
    public void FashionMnist_Debian_WhenInstalled()
    {
        var dir = FashionMnist.Find();
        if (dir == null) return; // the Debian package is optional
        var (train, test) = FashionMnist.Load(dir);
        Assert.Equal(60000, train.Count);
        Assert.Equal(10000, test.Count);
        // the embedded subset was drawn from this set: its first training image appears here
        var (emb, _) = FashionMnist.LoadEmbedded();
        var first = emb.GetImage(0).Pixels;
        bool found = false;
        for (int i = 0; i < 60000 && !found; i++) found = train.GetImage(i).Pixels.AsSpan().SequenceEqual(first);
        Assert.True(found);
    }

    [Fact]
    public void Cifar10_Binary_ReadsPlanesToHwc()
    {
        using var dir = new TempDir();
        var rec = new byte[3073];
        rec[0] = 7;
        rec[1] = 10; rec[1 + 1024] = 20; rec[1 + 2048] = 30; // pixel 0: R, G, B planes
        for (int i = 1; i <= 5; i++) File.WriteAllBytes(Path.Combine(dir.Path, $"data_batch_{i}.bin"), rec.Concat(rec).ToArray());
        File.WriteAllBytes(Path.Combine(dir.Path, "test_batch.bin"), rec);
        var (train, test) = Cifar10.Load(dir.Path);
        Assert.Equal(10, train.Count);
        Assert.Equal(1, test.Count);
        Assert.Equal(7, test.GetLabel(0));
        Assert.Equal(new byte[] { 10, 20, 30 }, test.GetImage(0).Pixels[..3]);
        File.WriteAllBytes(Path.Combine(dir.Path, "test_batch.bin"), rec[..100]);
        Assert.Throws<VitException>(() => Cifar10.Load(dir.Path));
    }
}

public class DataLoaderTests
{
    private static readonly Lazy<InMemoryDataset> Base = new(() => FashionMnist.LoadEmbedded().Train.Subset(Enumerable.Range(0, 203).ToArray()));

    private static (InMemoryDataset Ds, Compose T) Small()
    {
        var ds = Base.Value;
        var t = new Compose([new RandomResizedCrop(24, 24, 0.5), new RandomHorizontalFlip(), new RandAugment(2, 9)],
            [new Normalize([0.5f], [0.5f]), new RandomErasing(0.5)]);
        return (ds, t);
    }

    private static List<(float[] X, int[] Y, float[]? S)> Run(DataLoader dl, int epoch) =>
        dl.Epoch(epoch).Select(b => (b.Images.ToArray(), b.Labels, b.SoftTargets)).ToList();

    [Fact]
    public void Output_IsIdenticalForAnyWorkerCount()
    {
        var (ds, t) = Small();
        var mix = new MixupCutmix(10);
        List<(float[] X, int[] Y, float[]? S)>? reference = null;
        foreach (int workers in new[] { 0, 1, 3 })
        {
            var dl = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 16, Seed = 11, Workers = workers, Prefetch = 2, Mixup = mix });
            var got = Run(dl, 1);
            Assert.Equal(13, got.Count);
            Assert.Equal(11, got[^1].Y.Length);
            Assert.Equal(203, dl.SamplesLoaded);
            if (reference == null) { reference = got; continue; }
            for (int b = 0; b < got.Count; b++)
            {
                Assert.Equal(reference[b].Y, got[b].Y);
                Assert.Equal(reference[b].X, got[b].X);
                Assert.Equal(reference[b].S, got[b].S);
            }
        }
    }

    [Fact]
    public void Shuffle_DiffersPerEpoch_DropLast_AndCacheGivesSameOutput()
    {
        var (ds, t) = Small();
        var dl = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 50, Seed = 3, Workers = 2, DropLast = true });
        Assert.Equal(4, dl.BatchesPerEpoch);
        var e0 = dl.Epoch(0).ToList();
        var e1 = dl.Epoch(1).ToList();
        Assert.Equal(4, e0.Count);
        Assert.All(e0, b => Assert.Equal(new[] { 50, 1, 24, 24 }, b.Images.Shape));
        Assert.NotEqual(e0[0].Indices, e1[0].Indices);
        Assert.Equal(200, e0.SelectMany(b => b.Indices).Distinct().Count());
        var cached = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 50, Seed = 3, Workers = 2, DropLast = true, Cache = true });
        for (int epoch = 0; epoch < 2; epoch++)
        {
            var a = cached.Epoch(epoch).ToList();
            var b = epoch == 0 ? e0 : e1;
            for (int i = 0; i < a.Count; i++) Assert.Equal(b[i].Images.ToArray(), a[i].Images.ToArray());
        }
    }

    [Fact]
    public void EarlyBreak_StopsWorkers_AndBatchesSurviveScopes()
    {
        var (ds, t) = Small();
        var dl = new DataLoader(ds, t, new DataLoaderOptions { BatchSize = 8, Workers = 2, Prefetch = 1 });
        Tensor kept;
        using (TensorScope.Begin())
        {
            kept = dl.Epoch(0).First().Images;
        }
        Assert.Equal(8 * 24 * 24, kept.ToArray().Length);
        Assert.True(dl.SamplesLoaded <= 8 * 3 + 2); // bounded prefetch: never ran far ahead
    }

    [Fact]
    public void BadImages_SkippedAndReported_OrFatalWithPath()
    {
        using var dir = new TempDir();
        TestImages.MakeFolder(dir.Path, [("a", 5), ("b", 5)]);
        string broken = Path.Combine(dir.Path, "b", TestImages.FileName(2));
        File.WriteAllBytes(broken, [0xFF, 0xD8, 0xFF, 1, 2, 3]);
        var ds = ImageFolder.Load(dir.Path);
        var eval = Transforms.EvalPreset(12);
        var reports = new List<string>();
        var dl = new DataLoader(ds, eval, new DataLoaderOptions { BatchSize = 4, Workers = 2, Shuffle = false, OnBadImage = BadImagePolicy.Skip, Report = reports.Add });
        var batches = dl.Epoch(0).ToList();
        Assert.Equal(10, batches.Sum(b => b.Count));
        Assert.Single(reports);
        Assert.Contains(broken, reports[0]);
        var fatal = new DataLoader(ds, eval, new DataLoaderOptions { BatchSize = 4, Workers = 2, Shuffle = false });
        var e = Assert.ThrowsAny<VitException>(() => fatal.Epoch(0).ToList());
        Assert.Contains(TestImages.FileName(2), e.Message);
        var verified = ds.Verify(BadImagePolicy.Skip, reports.Add);
        Assert.Equal(9, verified.Count);
    }

    [Fact]
    public void Mixup_SoftTargetsSumToOne_AndCutmixCorrectsLambda()
    {
        var x = Tensor.Zeros(4, 1, 8, 8);
        var xs = x.AsSpan();
        for (int i = 0; i < 4; i++) xs.Slice(i * 64, 64).Fill(i);
        var mix = new MixupCutmix(5, mixupAlpha: 0, cutmixAlpha: 1.0, labelSmoothing: 0.1);
        var soft = mix.Apply(x, [0, 1, 2, 3], new Rng(9), out var d);
        Assert.True(d.Cutmix);
        int area = (d.Y1 - d.Y0) * (d.X1 - d.X0);
        Assert.Equal(1 - area / 64.0, d.Lambda, 12);
        // image 0 received the box from image 3
        Assert.Equal(area, x.AsSpan()[..64].ToArray().Count(v => v == 3f));
        for (int i = 0; i < 4; i++) Assert.Equal(1.0, soft.AsSpan(i * 5, 5).ToArray().Sum(), 5);
        var t = MixupCutmix.Targets([2], 5, 1.0, 0.1);
        Assert.Equal(0.92f, t[2], 5);
        Assert.Equal(0.02f, t[0], 5);
        var mixOnly = new MixupCutmix(5, mixupAlpha: 0.8, cutmixAlpha: 0, labelSmoothing: 0);
        var y = Tensor.Zeros(2, 1, 2, 2);
        y.AsSpan()[4..].Fill(1f);
        mixOnly.Apply(y, [0, 1], new Rng(1), out var d2);
        Assert.Equal(1 - d2.Lambda, y.AsSpan()[0], 5);
        double mean = Enumerable.Range(0, 4000).Select(i => MixupCutmix.SampleBeta(new Rng(5, (ulong)i), 0.8)).Average();
        Assert.InRange(mean, 0.47, 0.53);
    }
}

public class IdxRobustnessTests
{
    [Fact]
    public void TruncatedOrMutatedIdx_OnlyEverGivesClearErrors()
    {
        var header = new byte[] { 0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 5, 0, 0, 0, 4 };
        var good = header.Concat(Enumerable.Range(0, 60).Select(i => (byte)i)).ToArray();
        var rng = new Random(7);
        for (int len = 0; len < good.Length; len++)
            Assert.Throws<VitException>(() => Idx.Parse(good[..len], "t"));
        for (int t = 0; t < 2000; t++)
        {
            var m = (byte[])good.Clone();
            int flips = 1 + rng.Next(3);
            for (int f = 0; f < flips; f++) m[rng.Next(16)] = (byte)rng.Next(256);
            try
            {
                var a = Idx.Parse(m, "t");
                Assert.Equal(a.Data.Length, a.Shape.Aggregate(1L, (x, y) => x * y));
            }
            catch (VitException)
            {
            }
        }
    }
}
