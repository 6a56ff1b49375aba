using VitSharp.Imaging;
using VitSharp.Kernels;
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

    [Fact]
    public void Scalar_and_simd_paths_agree_on_the_whole_corpus()
    {
        // The AVX2 IDCT/upsampling/colour code must be bit-identical to the scalar libjpeg arithmetic.
        foreach (var e in ImageFixtures.Entries.Where(e => e.Kind == "jpeg"))
        {
            var data = File.ReadAllBytes(ImageFixtures.PathOf(e.File));
            Image? scalar = null, simd = null;
            Cpu.With(SimdLevel.Scalar, () => scalar = ImageDecoder.Decode(data, e.File));
            Cpu.With(Cpu.Detected, () => simd = ImageDecoder.Decode(data, e.File));
            Assert.True(scalar!.Pixels.AsSpan().SequenceEqual(simd!.Pixels), e.File);
            Assert.Equal(ImageFixtures.ExpectedPixels(e), scalar.Pixels);
        }
    }
}
