using VitSharp.Imaging;

namespace VitSharp.Tests.Imaging;

public class ImageEncoderTests
{
    private static Image Random(int w, int h, int c, int seed)
    {
        var rng = new Random(seed);
        var img = new Image(w, h, c);
        // Smooth content plus noise so every PNG filter gets chosen somewhere.
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)((i % img.Stride) * 3 + (i / img.Stride) * 2 + rng.Next(rng.Next(2) == 0 ? 3 : 256));
        return img;
    }

    [Theory]
    [InlineData(1, 1, 1)]
    [InlineData(17, 9, 1)]
    [InlineData(5, 33, 2)]
    [InlineData(31, 7, 3)]
    [InlineData(64, 48, 4)]
    public void Png_round_trips(int w, int h, int c)
    {
        var img = Random(w, h, c, w * 100 + c);
        var back = ImageDecoder.Decode(ImageEncoder.EncodePng(img), "rt.png");
        Assert.Equal((w, h, c), (back.Width, back.Height, back.Channels));
        Assert.Equal(img.Pixels, back.Pixels);
    }

    [Fact]
    public void Png_of_a_decoded_photo_round_trips_through_the_file_system()
    {
        var img = ImageDecoder.Load(ImageFixtures.PathOf("jpeg/china_q90_420.jpg"));
        var path = Path.Combine(Path.GetTempPath(), $"vitsharp-{Guid.NewGuid():N}.png");
        try
        {
            ImageEncoder.SavePng(img, path);
            Assert.Equal(img.Pixels, ImageDecoder.Load(path).Pixels);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    [InlineData(3)]
    [InlineData(4)]
    public void Bmp_and_pnm_writers_round_trip(int c)
    {
        var img = Random(13, 7, c, c);
        var bmp = ImageDecoder.Decode(ImageEncoder.EncodeBmp(img), "rt.bmp");
        var pnm = ImageDecoder.Decode(ImageEncoder.EncodePnm(img), "rt.pnm");
        // BMP keeps alpha (32-bit bitfields); gray is stored as RGB. PNM drops alpha.
        var rgb = ImageConvert.ToRgb(img);
        if (c is 2 or 4)
        {
            Assert.Equal(4, bmp.Channels);
            for (int i = 0; i < 13 * 7; i++)
            {
                Assert.Equal(rgb.Pixels.AsSpan(3 * i, 3).ToArray(), bmp.Pixels.AsSpan(4 * i, 3).ToArray());
                Assert.Equal(img.Pixels[i * c + c - 1], bmp.Pixels[4 * i + 3]);
            }
        }
        else Assert.Equal(rgb.Pixels, bmp.Pixels);
        Assert.Equal(c <= 2 ? ImageConvert.ToGray(img).Pixels : rgb.Pixels, pnm.Pixels);
    }
}
