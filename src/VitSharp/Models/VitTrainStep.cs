using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>
/// One training step's forward and backward for a <see cref="VisionTransformer"/> on a batch with hard labels:
/// cross-entropy (optional label smoothing), gradients written into every trainable parameter's
/// <see cref="Tensor.Grad"/> (overwriting what was there), mean loss returned. The optimiser step is the caller's.
/// </summary>
public sealed class VitTrainStep
{
    private readonly VisionTransformer model;
    private readonly List<Tensor> parameters;

    public VitTrainStep(VisionTransformer model, int maxBatch, bool general = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxBatch < 1) throw new VitException($"training plan: batch must be at least 1, got {maxBatch}");
        this.model = model;
        MaxBatch = maxBatch;
        _ = general;
        parameters = [.. model.NamedParameters().Select(p => p.Param)];
    }

    public int MaxBatch { get; }

    /// <summary>"planned" or "general" (autograd over the module tree), for reports.</summary>
    public string PathName => "general";

    /// <summary>Forward + cross-entropy + backward; returns the mean loss.</summary>
    public float ForwardBackward(Tensor images, int[] labels, float labelSmoothing = 0)
    {
        foreach (var p in parameters) p.Grad = null;
        using (TensorScope.Begin())
        {
            var logits = model.Forward(images);
            var loss = F.CrossEntropy(logits, labels, labelSmoothing);
            float v = loss.Item();
            loss.Backward();
            return v;
        }
    }
}
