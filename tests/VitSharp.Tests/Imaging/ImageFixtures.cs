using System.IO.Compression;
using System.Text.Json;

namespace VitSharp.Tests.Imaging;

/// <summary>The corpus written by scripts/make_image_fixtures.py: files and the pixels PIL decodes from them.</summary>
internal static class ImageFixtures
{
    public sealed record Entry(string File, string Expected, int Width, int Height, int Channels, string Kind, bool Exact, string Note);

    public static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "images");

    private static readonly Lazy<Entry[]> All = new(() =>
    {
        var json = File.ReadAllText(Path.Combine(Dir, "manifest.json"));
        return JsonSerializer.Deserialize<Entry[]>(json, new JsonSerializerOptions { PropertyNameCaseInsensitive = true })!;
    });

    public static Entry[] Entries => All.Value;

    public static IEnumerable<object[]> OfKind(string kind) =>
        Entries.Where(e => e.Kind == kind).Select(e => new object[] { e.File });

    public static Entry Get(string file) => Entries.First(e => e.File == file);

    public static string PathOf(string rel) => Path.Combine(Dir, rel);

    public static byte[] ExpectedPixels(Entry e)
    {
        using var fs = File.OpenRead(Path.Combine(Dir, e.Expected));
        using var gz = new GZipStream(fs, CompressionMode.Decompress);
        using var ms = new MemoryStream();
        gz.CopyTo(ms);
        return ms.ToArray();
    }
}
