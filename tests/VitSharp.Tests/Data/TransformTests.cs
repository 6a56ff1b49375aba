using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Tests.Data;

public class TransformTests
{
    private static ResampleFilter Parse(string f) => f == "bicubic" ? ResampleFilter.Bicubic : ResampleFilter.Bilinear;

    [Fact]
    public void ResizeShortSide_MatchesTorchvision()
    {
        int n = 0;
        foreach (var c in DataFixtures.Cases("resize_short"))
        {
            var p = c.GetProperty("params");
            var src = DataFixtures.Source(c.GetProperty("src").GetString()!);
            var got = new Resize(p.GetProperty("size").GetInt32(), Parse(p.GetProperty("filter").GetString()!)).Apply(src, new Rng(1));
            Assert.True(DataFixtures.MaxDiff(DataFixtures.Expected(c), got, c.ToString()) <= 1, c.ToString());
            n++;
        }
        Assert.Equal(12, n);
    }

    [Fact]
    public void CenterCrop_MatchesTorchvision_IncludingPadding()
    {
        int n = 0;
        foreach (var c in DataFixtures.Cases("center_crop"))
        {
            var p = c.GetProperty("params");
            var src = DataFixtures.Source(c.GetProperty("src").GetString()!);
            var got = new CenterCrop(p.GetProperty("h").GetInt32(), p.GetProperty("w").GetInt32()).Apply(src, new Rng(1));
            Assert.Equal(0, DataFixtures.MaxDiff(DataFixtures.Expected(c), got, c.ToString()));
            n++;
        }
        Assert.Equal(18, n);
    }

    [Fact]
    public void ResizedCrop_MatchesTorchvision()
    {
        foreach (var c in DataFixtures.Cases("resized_crop"))
        {
            var p = c.GetProperty("params");
            var src = DataFixtures.Source(c.GetProperty("src").GetString()!);
            int s = p.GetProperty("size").GetInt32();
            var got = RandomResizedCrop.ResizedCrop(src, p.GetProperty("top").GetInt32(), p.GetProperty("left").GetInt32(),
                p.GetProperty("h").GetInt32(), p.GetProperty("w").GetInt32(), s, s, ResampleFilter.Bilinear);
            Assert.True(DataFixtures.MaxDiff(DataFixtures.Expected(c), got, c.ToString()) <= 1, c.ToString());
        }
    }

    [Fact]
    public void RandomResizedCrop_FallbackGeometry_MatchesTorchvision()
    {
        foreach (var g in DataFixtures.Manifest.GetProperty("rrc_fallback").EnumerateArray())
        {
            int w = g.GetProperty("w").GetInt32(), h = g.GetProperty("h").GetInt32();
            // scale > 1 can never fit, so all 10 tries fail and the central fallback is used, as in the fixture
            var got = RandomResizedCrop.GetParams(h, w, new Rng(5), 2.0, 3.0, 3.0 / 4, 4.0 / 3);
            Assert.Equal((g.GetProperty("top").GetInt32(), g.GetProperty("left").GetInt32(), g.GetProperty("ch").GetInt32(), g.GetProperty("cw").GetInt32()), got);
        }
    }

    [Fact]
    public void RandomResizedCrop_Params_StayInsideAndCoverScaleRange()
    {
        var rng = new Rng(42);
        double minFrac = 1, maxFrac = 0;
        for (int t = 0; t < 2000; t++)
        {
            var (i, j, h, w) = RandomResizedCrop.GetParams(300, 400, rng, 0.08, 1.0, 3.0 / 4, 4.0 / 3);
            Assert.True(i >= 0 && j >= 0 && h > 0 && w > 0 && i + h <= 300 && j + w <= 400);
            double frac = (double)h * w / (300 * 400);
            minFrac = Math.Min(minFrac, frac); maxFrac = Math.Max(maxFrac, frac);
        }
        Assert.True(minFrac < 0.1 && maxFrac > 0.9, $"{minFrac} {maxFrac}");
    }

    [Fact]
    public void RandAugmentOps_MatchTorchvision()
    {
        var failures = new List<string>();
        foreach (var c in DataFixtures.Cases("randaug"))
        {
            var p = c.GetProperty("params");
            var src = DataFixtures.Source(c.GetProperty("src").GetString()!);
            string op = p.GetProperty("name").GetString()!;
            var got = RandAugment.ApplyOp(src, op, p.GetProperty("magnitude").GetDouble());
            var exp = DataFixtures.Expected(c);
            int d = DataFixtures.MaxDiff(exp, got, c.ToString());
            if (d > 1) failures.Add($"{c.GetProperty("src")} {op} {p.GetProperty("magnitude")}: maxdiff {d} on {DataFixtures.Count(exp, got)} px");
        }
        Assert.True(failures.Count == 0, string.Join("\n", failures));
    }

    [Fact]
    public void RandAugmentMagnitudeTable_MatchesTorchvision()
    {
        var space = DataFixtures.Manifest.GetProperty("randaug_space");
        foreach (var op in RandAugment.OpNames)
        {
            var entry = space.GetProperty(op);
            var values = entry[0].EnumerateArray().Select(v => v.GetDouble()).ToArray();
            bool signed = entry[1].GetBoolean();
            for (int b = 0; b < values.Length; b++)
            {
                var (m, s) = RandAugment.MagnitudeOf(op, values.Length == 1 ? 0 : b, 31, 29, 37);
                Assert.Equal(signed, s);
                Assert.True(Math.Abs(values[b] - m) <= 1e-9 * Math.Max(1, Math.Abs(m)), $"{op}[{b}]: {values[b]} vs {m}");
            }
        }
    }

    [Fact]
    public void ToTensorNormalize_MatchesTorchvisionBitExact()
    {
        var src = DataFixtures.Source("rgb37x29");
        var expected = DataFixtures.Blob("totensor_imagenet.bin");
        var pipe = new Compose([], [new Normalize(Transforms.ImageNetMean, Transforms.ImageNetStd)]);
        var (data, c, h, w) = pipe.Apply(src, new Rng(0));
        Assert.Equal((3, 29, 37), (c, h, w));
        var exp = new float[expected.Length / 4];
        Buffer.BlockCopy(expected, 0, exp, 0, expected.Length);
        Assert.Equal(exp, data);
    }

    [Fact]
    public void Presets_ProduceFixedShapes_AndAreDeterministicPerSeed()
    {
        var src = DataFixtures.Source("rgb61x47");
        var train = Transforms.TrainPreset(32, randAugment: (2, 9), erasing: 0.5f);
        var a = train.Apply(src, new Rng(7, 3));
        var b = train.Apply(src, new Rng(7, 3));
        Assert.Equal((3, 32, 32), (a.C, a.H, a.W));
        Assert.Equal(a.Data, b.Data);
        var eval = Transforms.EvalPreset(28);
        var e = eval.ApplyToTensor(src, new Rng(0));
        Assert.Equal([3, 28, 28], e.Shape);
        // Resize(28·256/224 = 32) + CenterCrop(28) by hand
        var manual = CenterCrop.Crop(new Resize(32).Apply(src, new Rng(0)), 28, 28);
        Assert.Equal((manual.Pixels[0] / 255f - 0.5f) / 0.5f, e.AsSpan()[0]);
    }

    [Fact]
    public void Flip_And_Erasing_Behave()
    {
        var img = new Image(3, 1, 1, [1, 2, 3]);
        Assert.Equal(new byte[] { 3, 2, 1 }, new RandomHorizontalFlip(1.0).Apply(img, new Rng(0)).Pixels);
        Assert.Same(img, new RandomHorizontalFlip(0.0).Apply(img, new Rng(0)));
        var t = Enumerable.Repeat(1f, 3 * 20 * 20).ToArray();
        new RandomErasing(1.0, value: 0f).Apply(t, 3, 20, 20, new Rng(3));
        int zeros = t.Count(v => v == 0f);
        Assert.True(zeros > 0 && zeros % 3 == 0);
    }
}

public class PresetTests
{
    [Fact]
    public void EvalPresetCropPct_UsesTimmResizeRule()
    {
        var p = Transforms.EvalPresetCropPct(224, 0.9);
        var r = Assert.IsType<Resize>(p.ImageSteps[0]);
        Assert.Equal(248, r.ShortSide);
        Assert.Equal(ResampleFilter.Bicubic, r.Filter);
        Assert.Equal(256, Assert.IsType<Resize>(Transforms.EvalPreset(224).ImageSteps[0]).ShortSide);
        Assert.Equal(384, Assert.IsType<Resize>(Transforms.EvalPresetCropPct(384, 1.0).ImageSteps[0]).ShortSide);
        Assert.Throws<VitException>(() => Transforms.EvalPresetCropPct(224, 0));
    }
}
