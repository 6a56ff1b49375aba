using VitSharp.Autograd;
using VitSharp.Checkpoints;
using VitSharp.Models;
using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>Lets the trainer drive any <see cref="Module"/> (a ViT from the zoo, a hybrid, a custom module).</summary>
public sealed class ModuleTrainModel(Module module) : ITrainModel, IStochasticModel, IFusedTrainModel
{
    private VitTrainStep? plan;
    private VitInference? inference;
    private bool inferenceStale;

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

    /// <summary>Logits. In eval mode without gradients a ViT runs its planned inference path (weights packed on the
    /// first forward after <see cref="Eval"/>; the result is overwritten by the next call); otherwise the module
    /// forward.</summary>
    public Tensor Forward(Tensor images)
    {
        if (UsePlannedStep && !Module.Training && !Graph.IsEnabled && Module is VisionTransformer vit && !vit.Config.IsHybrid)
        {
            int b = images.Shape[0];
            if (inference == null || inference.MaxBatch < b)
            {
                inference = new VitInference(vit, b);
                inferenceStale = false;
            }
            if (inferenceStale)
            {
                inference.Refresh();
                inferenceStale = false;
            }
            return inference.Run(images);
        }
        return Module.Forward(images);
    }

    /// <summary>Forgets the packed inference weights (call after changing weights while staying in eval mode).</summary>
    public void InvalidatePlan() => inferenceStale = true;

    public IEnumerable<(string Name, Tensor Param)> NamedParameters() => Module.NamedParameters();

    public void Train() => Module.Train();

    public void Eval()
    {
        // Leaving training mode: the weights changed since the plan packed them (repeated Eval() calls keep it).
        if (Module.Training) inferenceStale = true;
        Module.Eval();
    }

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
