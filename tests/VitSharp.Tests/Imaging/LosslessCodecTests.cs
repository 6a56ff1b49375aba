using VitSharp.Imaging;

namespace VitSharp.Tests.Imaging;

public class LosslessCodecTests
{
    public static IEnumerable<object[]> PngFiles => ImageFixtures.OfKind("png");
    public static IEnumerable<object[]> BmpFiles => ImageFixtures.OfKind("bmp");
    public static IEnumerable<object[]> PnmFiles => ImageFixtures.OfKind("pnm");

    private static void AssertExact(string file)
    {
        var e = ImageFixtures.Get(file);
        var img = ImageDecoder.Load(ImageFixtures.PathOf(file));
        Assert.Equal((e.Width, e.Height, e.Channels), (img.Width, img.Height, img.Channels));
        var exp = ImageFixtures.ExpectedPixels(e);
        int first = -1;
        for (int i = 0; i < exp.Length && first < 0; i++)
            if (exp[i] != img.Pixels[i]) first = i;
        Assert.True(first < 0, first < 0 ? "" : $"{file}: first difference at byte {first}: expected {exp[first]}, got {img.Pixels[first]} ({e.Note})");
    }

    [Theory]
    [MemberData(nameof(PngFiles))]
    public void Png_decodes_exactly(string file) => AssertExact(file);

    [Theory]
    [MemberData(nameof(BmpFiles))]
    public void Bmp_decodes_exactly(string file) => AssertExact(file);

    [Theory]
    [MemberData(nameof(PnmFiles))]
    public void Pnm_decodes_exactly(string file) => AssertExact(file);
}
