using System.Text.Json;
using VitSharp.Imaging;

namespace VitSharp.Tests.Data;

/// <summary>Reads tests/fixtures/data (made by scripts/make_data_fixtures.py with Pillow + torchvision).</summary>
internal static class DataFixtures
{
    private static readonly Lazy<(JsonElement Root, byte[] Pack)> Loaded = new(() =>
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "data");
        var root = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json"))).RootElement;
        return (root, File.ReadAllBytes(Path.Combine(dir, "pack.bin")));
    });

    public static JsonElement Manifest => Loaded.Value.Root;

    public static byte[] Blob(string name)
    {
        var b = Manifest.GetProperty("blobs").GetProperty(name);
        int off = b[0].GetInt32(), len = b[1].GetInt32();
        return Loaded.Value.Pack.AsSpan(off, len).ToArray();
    }

    public static Image Source(string name)
    {
        var s = Manifest.GetProperty("sources").GetProperty(name);
        return new Image(s.GetProperty("w").GetInt32(), s.GetProperty("h").GetInt32(), s.GetProperty("c").GetInt32(), Blob($"src_{name}.bin"));
    }

    public static IEnumerable<JsonElement> Cases(string op) =>
        Manifest.GetProperty("cases").EnumerateArray().Where(c => c.GetProperty("op").GetString() == op);

    public static Image Expected(JsonElement c) =>
        new(c.GetProperty("w").GetInt32(), c.GetProperty("h").GetInt32(), c.GetProperty("c").GetInt32(), Blob(c.GetProperty("out").GetString()!));

    /// <summary>Max abs difference; fails with the case description when sizes differ.</summary>
    public static int MaxDiff(Image expected, Image actual, string what)
    {
        Assert.True(expected.Width == actual.Width && expected.Height == actual.Height && expected.Channels == actual.Channels,
            $"{what}: expected {expected.Width}x{expected.Height}x{expected.Channels}, got {actual.Width}x{actual.Height}x{actual.Channels}");
        int m = 0;
        for (int i = 0; i < expected.Pixels.Length; i++) m = Math.Max(m, Math.Abs(expected.Pixels[i] - actual.Pixels[i]));
        return m;
    }

    public static int Count(Image expected, Image actual)
    {
        int n = 0;
        for (int i = 0; i < expected.Pixels.Length; i++) if (expected.Pixels[i] != actual.Pixels[i]) n++;
        return n;
    }
}
