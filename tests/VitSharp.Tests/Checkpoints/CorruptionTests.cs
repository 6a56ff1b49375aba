using VitSharp.Checkpoints;

namespace VitSharp.Tests.Checkpoints;

/// <summary>Truncated and bit-flipped files must give a CheckpointException naming the file: never a crash, hang or huge allocation.</summary>
public class CorruptionTests
{
    public static TheoryData<string> Files => new()
    {
        "tiny/timm.safetensors", "tiny/timm.pth", "tiny/google.npz", "tiny/google_opt_target.npz",
        "torch/layouts.pth", "torch/layouts_proto4.pth", "npy/v1_f4.npy", "npy/deflated.npz",
    };

    private static void LoadMustBeCleanOrCheckpointError(byte[] bytes, string ext)
    {
        // In memory: the same code path as a file, without disk traffic for hundreds of mutations.
        var path = "mutated" + ext;
        try
        {
            CheckpointFile.Load(new MemoryStream(bytes), path);
        }
        catch (CheckpointException ex)
        {
            Assert.Contains(path, ex.Message);
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Truncated_files_fail_cleanly(string file)
    {
        var bytes = File.ReadAllBytes(Fx.Path(file.Split('/')));
        var ext = Path.GetExtension(file);
        var cuts = new SortedSet<int>();
        for (int i = 0; i < 64 && i < bytes.Length; i++) cuts.Add(i);
        for (int i = 0; i < 40; i++) cuts.Add((int)((long)bytes.Length * i / 40));
        for (int i = 1; i <= 64 && i < bytes.Length; i++) cuts.Add(bytes.Length - i);
        foreach (var n in cuts)
        {
            var path = $"truncated-{n}{ext}";
            var ex = Assert.Throws<CheckpointException>(() => CheckpointFile.Load(new MemoryStream(bytes[..n]), path));
            Assert.Contains(path, ex.Message);
        }
    }

    [Theory]
    [MemberData(nameof(Files))]
    public void Flipped_bytes_never_crash(string file)
    {
        var bytes = File.ReadAllBytes(Fx.Path(file.Split('/')));
        var ext = Path.GetExtension(file);
        var rng = new Random(1234);
        for (int trial = 0; trial < 120; trial++)
        {
            var m = (byte[])bytes.Clone();
            int flips = 1 + rng.Next(4);
            for (int f = 0; f < flips; f++)
            {
                // Bias mutations towards headers, where the structure lives.
                int pos = rng.Next(2) == 0 ? rng.Next(Math.Min(512, m.Length)) : rng.Next(m.Length);
                if (rng.Next(3) == 0) m[pos] = (byte)rng.Next(256);
                else m[pos] ^= (byte)(1 << rng.Next(8));
            }
            LoadMustBeCleanOrCheckpointError(m, ext);
        }
        // Structural hot spots of zips: the end of the file (central directory) byte by byte.
        for (int i = 1; i <= Math.Min(200, bytes.Length); i++)
        {
            var m = (byte[])bytes.Clone();
            m[^i] ^= 0xFF;
            LoadMustBeCleanOrCheckpointError(m, ext);
        }
    }

    [Fact]
    public void Mutated_pickles_are_refused_or_parsed_never_crash()
    {
        using var zip = System.IO.Compression.ZipFile.OpenRead(Fx.Path("torch", "layouts_proto4.pth"));
        var entry = zip.Entries.First(e => e.FullName.EndsWith("/data.pkl", StringComparison.Ordinal));
        var pkl = new byte[entry.Length];
        using (var s = entry.Open()) s.ReadExactly(pkl);
        var rng = new Random(99);
        for (int trial = 0; trial < 2000; trial++)
        {
            var m = (byte[])pkl.Clone();
            for (int f = 1 + rng.Next(3); f > 0; f--) m[rng.Next(m.Length)] = (byte)rng.Next(256);
            if (rng.Next(4) == 0) m = m[..rng.Next(m.Length)];
            try { RestrictedUnpickler.Load(m, "mutated.pkl"); }
            catch (CheckpointException ex) { Assert.Contains("mutated.pkl", ex.Message); }
        }
    }

    [Fact]
    public void Missing_and_empty_files_are_clear_errors()
    {
        var missing = Fx.TempFile(".pth");
        Assert.Contains("not found", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(missing)).Message);
        var empty = Fx.TempFile(".safetensors");
        File.WriteAllBytes(empty, []);
        Assert.Contains("empty", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(empty)).Message);
        File.WriteAllText(empty, "hello, not a checkpoint");
        Assert.Contains("unrecognised", Assert.Throws<CheckpointException>(() => CheckpointFile.Load(empty)).Message);
        File.Delete(empty);
    }
}
