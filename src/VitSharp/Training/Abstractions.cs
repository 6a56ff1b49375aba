using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// What the trainer needs from a model. The Nn module base satisfies it with a thin adapter
/// (<c>Forward</c>, <c>NamedParameters</c>, <c>Train</c>/<c>Eval</c>).
/// </summary>
public interface ITrainModel
{
    /// <summary>Images (B, C, H, W) → logits (B, classes).</summary>
    Tensor Forward(Tensor images);

    /// <summary>Every parameter with its state-dict name (e.g. "blocks.0.attn.qkv.weight").</summary>
    IEnumerable<(string Name, Tensor Param)> NamedParameters();

    /// <summary>Training mode (dropout / drop-path active).</summary>
    void Train();

    /// <summary>Inference mode.</summary>
    void Eval();
}

/// <summary>
/// A model that can run forward, cross-entropy and backward as one planned step (no autograd graph, buffers
/// reused every step). Gradients are written (not accumulated) into the parameters' Grad tensors.
/// </summary>
public interface IFusedTrainModel
{
    /// <summary>Returns false when this batch/model cannot take the planned step; the trainer then runs
    /// Forward + loss + Backward. <paramref name="logits"/> is valid until the next call.</summary>
    bool TryForwardBackward(Tensor images, int[] labels, Tensor? softTargets, float labelSmoothing, out float loss, out Tensor logits);
}

/// <summary>A model whose dropout / drop-path draws from a generator the trainer reseeds each epoch (exact resume).</summary>
public interface IStochasticModel
{
    void SetRng(Rng rng);
}

/// <summary>
/// One batch: images (B, C, H, W), hard labels, and optionally soft targets (B, classes) when the loader already
/// mixed samples (mixup/cutmix done in the data pipeline).
/// </summary>
public sealed record Batch(Tensor Images, int[] Labels, Tensor? SoftTargets = null);

/// <summary>
/// A split of a data set, batched. <see cref="Batches"/> must depend only on the epoch (shuffle and
/// augmentation seeded from it), so a resumed run sees exactly the batches an uninterrupted run would.
/// </summary>
public interface IBatchSource
{
    int SampleCount { get; }

    int BatchesPerEpoch { get; }

    IEnumerable<Batch> Batches(int epoch);
}

/// <summary>Reads and writes checkpoint files (safetensors with string metadata).</summary>
public interface ICheckpointStore
{
    void Save(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, IReadOnlyDictionary<string, string> metadata);

    (IReadOnlyList<(string Name, Tensor Value)> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(string path);
}

/// <summary>The training loss: logits (B, classes) against hard labels (with label smoothing) or soft targets.</summary>
public interface ILoss
{
    Tensor Compute(Tensor logits, int[] labels, float labelSmoothing);

    Tensor Compute(Tensor logits, Tensor softTargets);
}

/// <summary>Cross-entropy through the engine's fused <c>F.CrossEntropy</c>.</summary>
public sealed class CrossEntropyLoss : ILoss
{
    public static readonly CrossEntropyLoss Instance = new();

    public Tensor Compute(Tensor logits, int[] labels, float labelSmoothing) => Autograd.F.CrossEntropy(logits, labels, labelSmoothing);

    public Tensor Compute(Tensor logits, Tensor softTargets) => Autograd.F.CrossEntropy(logits, softTargets);
}
