using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Tests.Data;

public class RandomCropTests
{
    [Fact]
    public void Padded_crop_is_the_image_shifted_with_zeros_filling_in()
    {
        var img = new Image(6, 5, 1);
        for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)(i + 1);
        var crop = new RandomCrop(5, 6, padding: 2);
        var seen = new HashSet<(int, int)>();
        for (int s = 0; s < 400; s++)
        {
            var rng = new Rng(7, (ulong)s);
            var probe = new Rng(7, (ulong)s);
            int top = probe.NextInt(5 + 4 - 5 + 1) - 2, left = probe.NextInt(6 + 4 - 6 + 1) - 2;
            var o = crop.Apply(img, rng);
            Assert.Equal((6, 5), (o.Width, o.Height));
            for (int y = 0; y < 5; y++)
                for (int x = 0; x < 6; x++)
                {
                    int sy = y + top, sx = x + left;
                    byte want = sy is >= 0 and < 5 && sx is >= 0 and < 6 ? img.Pixels[sy * 6 + sx] : (byte)0;
                    Assert.Equal(want, o.Pixels[y * 6 + x]);
                }
            seen.Add((top, left));
        }
        Assert.Equal(25, seen.Count); // every shift in [-2, 2]² occurs
        Assert.Throws<VitException>(() => new RandomCrop(10, 6, 2).Apply(img, new Rng(1)));
    }
}
