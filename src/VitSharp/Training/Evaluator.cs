using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>Evaluation over a batch source: mean loss, top-1 / top-k, per-class accuracy and confusion matrix.</summary>
public static class Evaluator
{
    public static ClassificationMetrics Evaluate(ITrainModel model, IBatchSource source, int numClasses, int topK = 5, ILoss? loss = null,
        int epoch = 0, Action<StepProgress>? onStep = null, CancellationToken cancel = default)
    {
        loss ??= CrossEntropyLoss.Instance;
        var metrics = new ClassificationMetrics(numClasses, topK);
        model.Eval();
        using var noGrad = Graph.NoGrad();
        int i = 0, batches = source.BatchesPerEpoch;
        var sw = System.Diagnostics.Stopwatch.StartNew();
        foreach (var batch in source.Batches(epoch))
        {
            cancel.ThrowIfCancellationRequested();
            using (TensorScope.Begin())
            {
                var logits = model.Forward(batch.Images).Contiguous();
                if (logits.Rank != 2 || logits.Shape[1] != numClasses)
                    throw new VitException($"model output has shape {logits.ShapeString}, expected ({batch.Labels.Length}, {numClasses}); does the checkpoint's class count match the data?");
                double l = loss.Compute(logits, batch.Labels, 0).Item();
                metrics.Add(logits.AsSpan(), batch.Labels, l);
            }
            i++;
            double secs = sw.Elapsed.TotalSeconds;
            onStep?.Invoke(new StepProgress("val", epoch, 0, i, batches, metrics.MeanLoss, metrics.Top1, 0,
                secs > 0 ? metrics.Count / secs : 0, TimeSpan.FromSeconds(i > 0 ? secs / i * (batches - i) : 0)));
        }
        return metrics;
    }
}
