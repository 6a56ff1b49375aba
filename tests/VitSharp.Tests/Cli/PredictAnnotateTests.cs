using VitSharp.Imaging;
using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Cli;

public class PredictAnnotateTests
{
    [Fact]
    public void Annotate_draws_the_label_on_an_enlarged_copy_and_keeps_json_clean()
    {
        var dir = Directory.CreateTempSubdirectory("vit-annot-").FullName;
        try
        {
            var cfg = new VitConfig { ImgHeight = 28, ImgWidth = 28, InChans = 1, PatchSize = 7, EmbedDim = 16, Depth = 1, NumHeads = 2, NumClasses = 2 };
            var ckpt = Path.Combine(dir, "m.safetensors");
            Pretrained.Save(new VisionTransformer(cfg, new Rng(1)), ckpt, ["shirt", "shoe"]);
            var img = new Image(28, 28, 1);
            var imgPath = Path.Combine(dir, "x.png");
            ImageEncoder.SavePng(img, imgPath);
            var outPath = Path.Combine(dir, "x-annotated.png");

            var (stdout, stderr) = (Console.Out, Console.Error);
            var sw = new StringWriter();
            Console.SetOut(sw);
            Console.SetError(new StringWriter());
            int rc;
            try { rc = VitSharp.Cli.Program.Main(["predict", "--model", ckpt, "--json", "--annotate", outPath, imgPath]); }
            finally { Console.SetOut(stdout); Console.SetError(stderr); }
            Assert.Equal(0, rc);
            using var doc = System.Text.Json.JsonDocument.Parse(sw.ToString());
            Assert.Single(doc.RootElement.EnumerateArray());

            var annotated = ImageDecoder.Load(outPath);
            Assert.Equal(256, annotated.Width);
            Assert.Equal(3, annotated.Channels);
            // The input was all black: the drawn label box and text must have changed some pixels.
            Assert.Contains(annotated.Pixels, p => p != 0);
        }
        finally { Directory.Delete(dir, true); }
    }
}
