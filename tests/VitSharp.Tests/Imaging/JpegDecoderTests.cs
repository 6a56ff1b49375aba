using VitSharp.Imaging;
using Xunit.Abstractions;

namespace VitSharp.Tests.Imaging;

public class JpegDecoderTests(ITestOutputHelper output)
{
    public static IEnumerable<object[]> JpegFiles => ImageFixtures.OfKind("jpeg");

    [Theory]
    [MemberData(nameof(JpegFiles))]
    public void Decodes_like_libjpeg_turbo(string file)
    {
        var e = ImageFixtures.Get(file);
        var img = ImageDecoder.Load(ImageFixtures.PathOf(file));
        Assert.Equal((e.Width, e.Height, e.Channels), (img.Width, img.Height, img.Channels));
        var exp = ImageFixtures.ExpectedPixels(e);
        int max = 0;
        long sum = 0;
        for (int i = 0; i < exp.Length; i++)
        {
            int d = Math.Abs(exp[i] - img.Pixels[i]);
            sum += d;
            if (d > max) max = d;
        }
        double mean = (double)sum / exp.Length;
        output.WriteLine($"{file}: max {max} mean {mean:F4}");
        // Acceptance allows max 2 / mean 0.3; we reproduce libjpeg-turbo exactly, so any difference is a regression.
        Assert.True(max == 0, $"{file}: max abs diff {max}, mean {mean:F4} ({e.Note})");
    }
}
