using VitSharp.Imaging;

namespace VitSharp.Tests.Imaging;

public class ImageConvertTests
{
    public static IEnumerable<object[]> ToL => ImageFixtures.Entries.Where(e => e.Kind == "convert_L").Select(e => new object[] { e.File });
    public static IEnumerable<object[]> ToRgbFiles => ImageFixtures.Entries.Where(e => e.Kind == "convert_RGB").Select(e => new object[] { e.File });

    [Theory]
    [MemberData(nameof(ToL))]
    public void ToGray_matches_PIL_convert_L(string file)
    {
        var e = ImageFixtures.Entries.Single(x => x.File == file && x.Kind == "convert_L");
        var g = ImageConvert.ToGray(ImageDecoder.Load(ImageFixtures.PathOf(file)));
        Assert.Equal(1, g.Channels);
        Assert.Equal(ImageFixtures.ExpectedPixels(e), g.Pixels);
    }

    [Theory]
    [MemberData(nameof(ToRgbFiles))]
    public void ToRgb_matches_PIL_convert_RGB(string file)
    {
        var e = ImageFixtures.Entries.Single(x => x.File == file && x.Kind == "convert_RGB");
        var g = ImageConvert.ToRgb(ImageDecoder.Load(ImageFixtures.PathOf(file)));
        Assert.Equal(3, g.Channels);
        Assert.Equal(ImageFixtures.ExpectedPixels(e), g.Pixels);
    }

    [Fact]
    public void Gray_to_rgb_replicates_and_alpha_is_dropped()
    {
        var la = new Image(2, 1, 2, [10, 200, 30, 0]);
        Assert.Equal(new byte[] { 10, 10, 10, 30, 30, 30 }, ImageConvert.ToRgb(la).Pixels);
        var rgba = new Image(1, 1, 4, [1, 2, 3, 0]);
        Assert.Equal(new byte[] { 1, 2, 3 }, ImageConvert.ToRgb(rgba).Pixels);
        Assert.Equal(new byte[] { 10, 30 }, ImageConvert.ToGray(la).Pixels);
    }
}
