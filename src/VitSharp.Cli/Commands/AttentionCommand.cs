using System.CommandLine;
using System.Globalization;
using VitSharp.Imaging;
using VitSharp.Models;
using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit attention --model FILE IMAGE --out OUT.png`: attention rollout over all blocks (heads averaged, residual
/// identity added), drawn as a heat map over the model's view of the image (resized and centre-cropped).
/// </summary>
internal static class AttentionCommand
{
    internal static Command Build()
    {
        var image = new Argument<string>("image") { Description = "Image file" };
        var model = new Option<string>("--model") { Description = "Checkpoint (.safetensors from vit train, or any format with --arch)", Required = true };
        var arch = new Option<string?>("--arch") { Description = "Model name when the checkpoint carries no config" };
        var output = new Option<string>("--out") { Description = "Output PNG", Required = true };
        var alpha = new Option<float>("--alpha") { Description = "Heat-map opacity (0..1)", DefaultValueFactory = _ => 0.5f };
        var size = new Option<int>("--size") { Description = "Shorter side of the written picture in pixels (0 = the model's input size)", DefaultValueFactory = _ => 224 };
        var cmd = new Command("attention", "Draw where the model looks: attention rollout over all layers as a heat map over the image.");
        cmd.Arguments.Add(image);
        foreach (var o in new Option[] { model, arch, output, alpha, size }) cmd.Options.Add(o);
        cmd.SetAction(parse =>
        {
            float a = parse.GetValue(alpha);
            if (a is < 0 or > 1) throw new VitException($"--alpha must be in [0, 1] (got {a})");
            int shown = parse.GetValue(size);
            if (shown < 0) throw new VitException($"--size must be ≥ 0 (got {shown})");
            string path = parse.GetValue(image)!, outPath = parse.GetValue(output)!;
            var loaded = ModelLoading.Load(parse.GetValue(model)!, parse.GetValue(arch));
            var (label, prob, picture) = Render(loaded, path, a, shown);
            ImageEncoder.SavePng(picture, outPath);
            Console.Out.WriteLine($"{path}: class: {label} prob: {prob.ToString("F3", CultureInfo.InvariantCulture)}; attention map written to {outPath}");
            return 0;
        });
        return cmd;
    }

    /// <summary>Runs the model on one image; returns the top class and the heat-map picture with the label drawn on it.</summary>
    internal static (string Label, float Probability, Image Picture) Render(LoadedModel loaded, string imagePath, float alpha, int shownShortSide)
    {
        var transform = loaded.EvalTransform();
        var decoded = ImageDecoder.Load(imagePath);
        var rng = new Rng(0);
        var input = Tensor.FromArray(transform.Apply(decoded, rng).Data, 1, loaded.Config.InChans, loaded.Config.ImgHeight, loaded.Config.ImgWidth);
        loaded.Model.Eval();
        var (logits, maps) = AttentionRollout.Compute(loaded.Model, input);
        var result = Predictor.FromLogits(logits.ToArray(), loaded.Classes, 1).Top[0];

        // The map covers what the model saw: the resized, centre-cropped image (before normalisation).
        var view = ImageConvert.ToRgb(transform.ApplyImage(decoded, rng));
        if (shownShortSide > 0 && Math.Min(view.Width, view.Height) < shownShortSide)
        {
            double scale = (double)shownShortSide / Math.Min(view.Width, view.Height);
            view = ImageResize.Resize(view, (int)Math.Round(view.Width * scale), (int)Math.Round(view.Height * scale), ResampleFilter.Bicubic);
        }
        var (rows, cols) = loaded.Config.Grid;
        var picture = HeatMap.Overlay(view, maps[0], cols, rows, alpha);
        Draw.Prediction(picture, result.Label, result.Probability);
        return (result.Label, result.Probability, picture);
    }
}
