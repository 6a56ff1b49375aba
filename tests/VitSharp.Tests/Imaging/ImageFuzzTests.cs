using System.Diagnostics;
using VitSharp.Imaging;
using Xunit.Abstractions;

namespace VitSharp.Tests.Imaging;

/// <summary>
/// Seeded mutations (bit flips, truncations, insertions, deletions, overwrites) of the whole fixture corpus:
/// whatever the bytes, the decoders may only ever throw <see cref="InvalidImageException"/>.
/// </summary>
public class ImageFuzzTests(ITestOutputHelper output)
{
    private static readonly DecodeOptions Limited = new() { MaxPixels = 1 << 21 };

    private static List<(string Name, byte[] Data)> Corpus() =>
        ImageFixtures.Entries.Select(e => e.File).Distinct()
            .Concat(Directory.EnumerateFiles(Path.Combine(ImageFixtures.Dir, "bad")).Select(p => Path.GetRelativePath(ImageFixtures.Dir, p)))
            .Select(f => (f, File.ReadAllBytes(ImageFixtures.PathOf(f))))
            .Where(x => x.Item2.Length <= 40_000)
            .ToList();

    internal static byte[] Mutate(byte[] src, Random rng)
    {
        var d = new List<byte>(src);
        int ops = 1 + rng.Next(4);
        for (int o = 0; o < ops && d.Count > 0; o++)
        {
            // Headers hold most of the structure: aim half of the mutations at the first 300 bytes.
            int Pos() => rng.Next(2) == 0 ? rng.Next(Math.Min(300, d.Count)) : rng.Next(d.Count);
            switch (rng.Next(6))
            {
                case 0:
                case 1:
                    { int p = Pos(); d[p] ^= (byte)(1 << rng.Next(8)); break; }
                case 2:
                    { int cut = rng.Next(d.Count); d.RemoveRange(cut, d.Count - cut); }
                    break;
                case 3:
                    {
                        int p = Pos();
                        int n = 1 + rng.Next(8);
                        for (int i = 0; i < n; i++) d.Insert(p, (byte)rng.Next(256));
                        break;
                    }
                case 4:
                    {
                        int p = Pos();
                        d.RemoveRange(p, Math.Min(1 + rng.Next(8), d.Count - p));
                        break;
                    }
                default:
                    {
                        int p = Pos();
                        byte[] special = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE];
                        int n = 1 + rng.Next(4);
                        for (int i = 0; i < n && p + i < d.Count; i++) d[p + i] = rng.Next(2) == 0 ? special[rng.Next(special.Length)] : (byte)rng.Next(256);
                        break;
                    }
            }
        }
        return d.ToArray();
    }

    [Fact]
    public void Mutated_corpus_only_raises_InvalidImageException()
    {
        var corpus = Corpus();
        Assert.True(corpus.Count > 100);
        var rng = new Random(20261122);
        var sw = Stopwatch.StartNew();
        int rejected = 0, decoded = 0, runs = 0;
        var failures = new List<string>();
        var netted = new Dictionary<string, string>();
        for (; runs < 6000; runs++)
        {
            var (name, data) = corpus[rng.Next(corpus.Count)];
            var m = Mutate(data, rng);
            try
            {
                var img = ImageDecoder.Decode(m, name, Limited);
                Assert.True(img.Pixels.Length == img.Width * img.Height * img.Channels);
                decoded++;
            }
            catch (InvalidImageException e)
            {
                Assert.StartsWith(name + ":", e.Message);
                rejected++;
                if (e.InnerException != null && !(e.InnerException is InvalidDataException)) netted[e.InnerException.GetType().Name + " " + e.InnerException.StackTrace?.Split('\n')[0]] = name;
            }
            catch (Exception e)
            {
                if (failures.Count < 10) failures.Add($"run {runs} on {name}: {e.GetType().Name}: {e.Message}\n{e.StackTrace}");
            }
        }
        output.WriteLine($"{runs} mutations in {sw.ElapsedMilliseconds} ms: {decoded} decoded, {rejected} rejected");
        foreach (var kv in netted) output.WriteLine($"caught by the safety net: {kv.Key} ({kv.Value})");
        Assert.True(failures.Count == 0, string.Join("\n\n", failures));
    }

    [Fact]
    public void Every_truncation_of_small_files_is_handled()
    {
        foreach (var f in new[] { "jpeg/odd_17x9_420.jpg", "jpeg/odd_9x17_422_prog.jpg", "png/tiny_9x9_i.png", "bmp/bmp4_pal.bmp", "pnm/p2.pgm" })
        {
            var data = File.ReadAllBytes(ImageFixtures.PathOf(f));
            for (int n = 0; n < data.Length; n++)
            {
                try
                {
                    ImageDecoder.Decode(data.AsSpan(0, n), f, Limited);
                }
                catch (InvalidImageException)
                {
                }
            }
        }
    }
}
