using VitSharp.Imaging;
using VitSharp.Kernels;
using VitSharp.Tests.Data;

namespace VitSharp.Tests.Imaging;

public class ResizeTests
{
    private static ResampleFilter Parse(string f) => f switch
    {
        "bilinear" => ResampleFilter.Bilinear,
        "bicubic" => ResampleFilter.Bicubic,
        "nearest" => ResampleFilter.Nearest,
        "box" => ResampleFilter.Box,
        "hamming" => ResampleFilter.Hamming,
        "lanczos" => ResampleFilter.Lanczos,
        _ => throw new ArgumentException(f),
    };

    [Fact]
    public void Resize_MatchesPillow_AllFiltersAndSizes()
    {
        foreach (var level in new[] { SimdLevel.Scalar, Cpu.Detected })
        {
            Cpu.With(level, () =>
            {
                var failures = new List<string>();
                int n = 0;
                foreach (var c in DataFixtures.Cases("resize"))
                {
                    var p = c.GetProperty("params");
                    var src = DataFixtures.Source(c.GetProperty("src").GetString()!);
                    string f = p.GetProperty("filter").GetString()!;
                    var got = ImageResize.Resize(src, p.GetProperty("w").GetInt32(), p.GetProperty("h").GetInt32(), Parse(f));
                    var exp = DataFixtures.Expected(c);
                    int d = DataFixtures.MaxDiff(exp, got, c.ToString());
                    // Pillow's own arithmetic is reproduced, so the result is exact, not merely within 1 level.
                    if (d != 0) failures.Add($"{c.GetProperty("src")} {p} maxdiff {d} ({DataFixtures.Count(exp, got)} px)");
                    n++;
                }
                Assert.True(n > 50);
                Assert.True(failures.Count == 0, $"{level}: " + string.Join("\n", failures));
            });
        }
    }

    [Fact]
    public void Resize_Identity_CopiesPixels()
    {
        var src = DataFixtures.Source("rgb37x29");
        var got = ImageResize.Resize(src, 37, 29, ResampleFilter.Bicubic);
        Assert.Equal(src.Pixels, got.Pixels);
        Assert.NotSame(src.Pixels, got.Pixels);
    }

    [Fact]
    public void Resize_BadArguments_Throw()
    {
        var src = new Image(4, 4, 3);
        Assert.Throws<VitException>(() => ImageResize.Resize(src, 0, 3));
        Assert.Throws<VitException>(() => ImageResize.Resize(src, 2, 2, ResampleFilter.Bilinear, 0, 0, 5, 4));
    }
}
