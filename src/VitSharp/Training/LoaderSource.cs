using VitSharp.Data;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>Feeds a <see cref="DataLoader"/> to the trainer (its batches depend only on seed and epoch).</summary>
public sealed class LoaderSource(DataLoader loader, CancellationToken cancel = default) : IBatchSource
{
    public DataLoader Loader { get; } = loader;

    public int SampleCount => Loader.SamplesPerEpoch;

    public int BatchesPerEpoch => Loader.BatchesPerEpoch;

    public IEnumerable<Batch> Batches(int epoch)
    {
        int classes = Loader.Dataset.Classes.Count;
        foreach (var b in Loader.Epoch(epoch, cancel))
        {
            Tensor? soft = null;
            if (b.SoftTargets is { } st)
                using (TensorScope.Suspend())
                    soft = Tensor.FromArray(st, b.Count, classes);
            yield return new Batch(b.Images, b.Labels, soft);
        }
    }
}
