using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Training;

public sealed record Prediction(int Index, string Label, float Probability);

/// <summary>Top-k of one image, with its full probability and logit vectors.</summary>
public sealed record PredictionResult(IReadOnlyList<Prediction> Top, float[] Probabilities, float[] Logits);

/// <summary>Softmax + top-k over a model's logits (validation preprocessing is the caller's job).</summary>
public static class Predictor
{
    /// <summary>Runs <paramref name="images"/> (B, C, H, W) through the model without gradients.</summary>
    public static IReadOnlyList<PredictionResult> Predict(ITrainModel model, Tensor images, IReadOnlyList<string>? labels, int topK)
    {
        model.Eval();
        using var noGrad = Graph.NoGrad();
        using var scope = TensorScope.Begin();
        var logits = model.Forward(images).Contiguous();
        if (logits.Rank != 2) throw new VitException($"model output has shape {logits.ShapeString}, expected (batch, classes)");
        if (labels != null && labels.Count != logits.Shape[1])
            throw new VitException($"{labels.Count} labels for a model with {logits.Shape[1]} classes");
        int c = logits.Shape[1];
        var all = logits.AsSpan();
        var results = new List<PredictionResult>();
        for (int b = 0; b < logits.Shape[0]; b++)
        {
            var row = all.Slice(b * c, c).ToArray();
            results.Add(FromLogits(row, labels, topK));
        }
        return results;
    }

    public static PredictionResult FromLogits(float[] logits, IReadOnlyList<string>? labels, int topK)
    {
        var probs = Softmax(logits);
        var order = Enumerable.Range(0, probs.Length).OrderByDescending(i => probs[i]).ThenBy(i => i).Take(Math.Max(1, topK));
        var top = order.Select(i => new Prediction(i, labels != null && i < labels.Count ? labels[i] : i.ToString(System.Globalization.CultureInfo.InvariantCulture), probs[i])).ToList();
        return new PredictionResult(top, probs, logits);
    }

    /// <summary>Numerically stable softmax (max subtracted, double accumulation).</summary>
    public static float[] Softmax(ReadOnlySpan<float> logits)
    {
        var r = new float[logits.Length];
        if (logits.Length == 0) return r;
        float max = float.NegativeInfinity;
        foreach (var x in logits) max = Math.Max(max, x);
        double sum = 0;
        for (int i = 0; i < logits.Length; i++) sum += Math.Exp(logits[i] - max);
        for (int i = 0; i < logits.Length; i++) r[i] = (float)(Math.Exp(logits[i] - max) / sum);
        return r;
    }
}
