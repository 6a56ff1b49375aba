using VitSharp.Checkpoints;
using VitSharp.Models;
using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>Lets the trainer drive any <see cref="Module"/> (a ViT from the zoo, a hybrid, a custom module).</summary>
public sealed class ModuleTrainModel(Module module) : ITrainModel, IStochasticModel, IFusedTrainModel
{
    private VitTrainStep? plan;

    public Module Module { get; } = module;

    /// <summary>Use the planned ViT training step when the model supports it (default on; off = autograd always).</summary>
    public bool UsePlannedStep { get; set; } = true;

    public bool TryForwardBackward(Tensor images, int[] labels, Tensor? softTargets, float labelSmoothing, out float loss, out Tensor logits)
    {
        loss = 0;
        logits = null!;
        if (!UsePlannedStep || Module is not VisionTransformer vit || !VitTrainStep.Supported(vit.Config) || !Module.Training) return false;
        int b = images.Shape[0];
        if (plan == null || plan.MaxBatch < b) plan = new VitTrainStep(vit, b);
        loss = softTargets != null ? plan.ForwardBackward(images, softTargets) : plan.ForwardBackward(images, labels, labelSmoothing);
        logits = plan.Logits;
        return true;
    }

    public Tensor Forward(Tensor images) => Module.Forward(images);

    public IEnumerable<(string Name, Tensor Param)> NamedParameters() => Module.NamedParameters();

    public void Train() => Module.Train();

    public void Eval() => Module.Eval();

    public void SetRng(Rng rng) => Module.SetRng(rng);
}

/// <summary>Checkpoints as safetensors files (float32) through the Checkpoints layer, written atomically.</summary>
public sealed class SafeTensorsCheckpointStore : ICheckpointStore
{
    public static readonly SafeTensorsCheckpointStore Instance = new();

    public void Save(string path, IReadOnlyList<(string Name, Tensor Value)> tensors, IReadOnlyDictionary<string, string> metadata) =>
        CheckpointFile.Save(path, tensors.Select(t => new KeyValuePair<string, Tensor>(t.Name, t.Value)), CheckpointMetadata.FromDictionary(metadata, path));

    public (IReadOnlyList<(string Name, Tensor Value)> Tensors, IReadOnlyDictionary<string, string> Metadata) Load(string path)
    {
        var c = CheckpointFile.Load(path);
        return ([.. c.Arrays.Select(a => (a.Name, a.Tensor))], c.Metadata.ToDictionary());
    }
}
