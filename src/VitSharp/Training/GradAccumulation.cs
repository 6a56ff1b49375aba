namespace VitSharp.Training;

/// <summary>
/// Gradient accumulation over <see cref="Steps"/> micro-batches: the loss of each micro-batch is scaled by
/// 1/(size of its group) so the accumulated gradient is the mean over the group, and the optimiser steps at the
/// end of every group. The last group of an epoch may be shorter; it is scaled by its own size and still steps.
/// </summary>
public sealed class GradAccumulation
{
    public GradAccumulation(int steps)
    {
        if (steps < 1) throw new VitException($"grad-accum: {steps} micro-batches per step must be ≥ 1");
        Steps = steps;
    }

    public int Steps { get; }

    /// <summary>Optimiser updates in an epoch of <paramref name="microBatches"/> micro-batches.</summary>
    public int UpdatesPerEpoch(int microBatches) => (microBatches + Steps - 1) / Steps;

    /// <summary>True when the optimiser should step after micro-batch <paramref name="index"/> (0-based) of <paramref name="count"/>.</summary>
    public bool IsUpdateStep(int index, int count) => (index + 1) % Steps == 0 || index + 1 == count;

    /// <summary>The factor for the loss of micro-batch <paramref name="index"/> of <paramref name="count"/>.</summary>
    public float LossScale(int index, int count)
    {
        int groupStart = index / Steps * Steps;
        int size = Math.Min(Steps, count - groupStart);
        return 1f / size;
    }
}
