using VitSharp.Imaging;
using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Cli;

public class AttentionCommandTests
{
    [Fact]
    public void Writes_a_heat_map_png_of_at_least_the_requested_size()
    {
        var dir = Directory.CreateTempSubdirectory("vit-attn-").FullName;
        try
        {
            var cfg = new VitConfig { ImgHeight = 32, ImgWidth = 32, InChans = 3, PatchSize = 8, EmbedDim = 24, Depth = 2, NumHeads = 2, NumClasses = 2 };
            var model = new VisionTransformer(cfg, new Rng(3));
            var ckpt = Path.Combine(dir, "m.safetensors");
            Pretrained.Save(model, ckpt, ["cat", "dog"]);
            var img = new Image(40, 30, 3);
            var rng = new Rng(5);
            for (int i = 0; i < img.Pixels.Length; i++) img.Pixels[i] = (byte)rng.NextInt(256);
            var imgPath = Path.Combine(dir, "x.png");
            ImageEncoder.SavePng(img, imgPath);
            var outPath = Path.Combine(dir, "attn.png");

            var stdout = Console.Out;
            var sw = new StringWriter();
            Console.SetOut(sw);
            int rc;
            try { rc = VitSharp.Cli.Program.Main(["attention", "--model", ckpt, imgPath, "--out", outPath, "--size", "64"]); }
            finally { Console.SetOut(stdout); }
            Assert.Equal(0, rc);
            Assert.Contains("class: ", sw.ToString());
            var picture = ImageDecoder.Load(outPath);
            Assert.Equal(64, Math.Min(picture.Width, picture.Height));
            Assert.Equal(3, picture.Channels);

            var err = Console.Error;
            Console.SetError(new StringWriter());
            try { Assert.Equal(2, VitSharp.Cli.Program.Main(["attention", "--model", ckpt, Path.Combine(dir, "nope.png"), "--out", outPath])); }
            finally { Console.SetError(err); }
        }
        finally { Directory.Delete(dir, true); }
    }
}
