using VitSharp.Imaging;

namespace VitSharp.Tests.Imaging;

public class DrawTests
{
    [Fact]
    public void Text_DrawsGlyphDots_AtScale()
    {
        var img = new Image(40, 20, 3);
        var size = Draw.Text(img, 1, 2, "I1", Rgb.White, 2);
        Assert.Equal((22, 14), size);
        // 'I' = 0x00,0x41,0x7F,0x41,0x00: centre column fully set, column 0 empty
        for (int row = 0; row < 7; row++)
        {
            Assert.Equal(255, img.Pixels[((2 + row * 2) * 40 + 1 + 2 * 2) * 3]);
            Assert.Equal(0, img.Pixels[((2 + row * 2) * 40 + 1) * 3]);
        }
        Assert.True(BitmapFont.Dot('A', 0, 1));
        Assert.False(BitmapFont.Dot(' ', 2, 3));
        Assert.Equal(BitmapFont.Dot('?', 1, 0), BitmapFont.Dot('\u00e9', 1, 0));
    }

    [Fact]
    public void Label_And_FillRect_StayInsideImage()
    {
        var img = new Image(64, 48, 1);
        Draw.Prediction(img, "tulips", 0.98765);
        Assert.Contains(img.Pixels, p => p == 255);
        Draw.FillRect(img, -5, -5, 1000, 1000, Rgb.Red, 1f);
        Assert.All(img.Pixels, p => Assert.Equal(ColorOps.Luma(230, 30, 30), p));
        var rgb = new Image(300, 200, 3);
        Draw.Label(rgb, ["class: a very long class name that will not fit prob: 0.500"]);
        Assert.Equal(0, rgb.Pixels[^1]);
    }

    [Fact]
    public void HeatMap_ColorsAndOverlay()
    {
        Assert.Equal(new Rgb(0, 0, 128), HeatMap.Color(0, ColorMap.Jet));
        Assert.Equal(new Rgb(128, 0, 0), HeatMap.Color(1, ColorMap.Jet));
        Assert.Equal(new Rgb(253, 231, 37), HeatMap.Color(1, ColorMap.Viridis));
        var grid = new float[] { 0, 1, 2, 3 };
        var heat = HeatMap.Colorize(grid, 2, 2, 8, 8);
        Assert.Equal(HeatMap.Color(0, ColorMap.Jet), new Rgb(heat.Pixels[0], heat.Pixels[1], heat.Pixels[2]));
        var over = HeatMap.Overlay(new Image(8, 8, 1), grid, 2, 2, 0.5f);
        Assert.Equal(3, over.Channels);
        Assert.Equal(64, over.Pixels[^3]); // bottom-right is the maximum: jet red 128 blended half over black
    }
}
