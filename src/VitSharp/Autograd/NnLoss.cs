using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Cross-entropy losses (mean over the batch) with fused log-softmax backward.</summary>
internal static class NnLoss
{
    private static (int rows, int classes) CheckLogits(Tensor logits, string op)
    {
        if (logits.Rank != 2) throw new ShapeException($"{op}: logits must be (B, C), got {logits.ShapeString}");
        if (logits.Shape[1] == 0) throw new ShapeException($"{op}: logits {logits.ShapeString} have no classes");
        return (logits.Shape[0], logits.Shape[1]);
    }

    private static Tensor LogProbs(Tensor logits, int rows, int classes)
    {
        var xd = NnUtil.Dense(logits);
        var logp = Tensor.Empty(rows, classes);
        Kernels.Softmax.Forward(NnUtil.Span(xd), logp.AsSpan(), rows, classes, 1, log: true);
        return logp;
    }

    public static Tensor CrossEntropy(Tensor logits, int[] targets, float labelSmoothing)
    {
        var (rows, classes) = CheckLogits(logits, "cross_entropy");
        if (targets.Length != rows)
            throw new ShapeException($"cross_entropy: {targets.Length} targets for logits {logits.ShapeString} ({rows} rows)");
        for (int i = 0; i < targets.Length; i++)
        {
            if ((uint)targets[i] >= (uint)classes)
                throw new ShapeException($"cross_entropy: target {targets[i]} at position {i} is out of range for {classes} classes (logits {logits.ShapeString})");
        }
        if (!(labelSmoothing >= 0 && labelSmoothing <= 1))
            throw new ArgumentOutOfRangeException(nameof(labelSmoothing), $"cross_entropy: label smoothing {labelSmoothing} is outside [0, 1]");
        var logp = LogProbs(logits, rows, classes);
        var loss = Tensor.Empty();
        loss.AsSpan()[0] = Loss.CrossEntropy(logp.AsSpan(), rows, classes, targets, labelSmoothing);
        if (Graph.NeedsGrad(logits)) Graph.Record(loss, new CrossEntropyNode(logits, logp, (int[])targets.Clone(), labelSmoothing));
        return loss;
    }

    private sealed class CrossEntropyNode(Tensor logits, Tensor logp, int[] targets, float smoothing) : GradNode(logits)
    {
        private Tensor? logp = logp;
        public override string Name => "CrossEntropy";

        public override Tensor?[] Backward(Tensor grad)
        {
            int rows = logp!.Shape[0], classes = logp.Shape[1];
            float g = grad.ToArray()[0];
            var dx = Tensor.Empty(rows, classes);
            Loss.CrossEntropyBackward(logp.AsSpan(), rows, classes, targets, smoothing, g / rows, dx.AsSpan());
            return [dx];
        }

        public override void Release() => logp = null;
    }

    public static Tensor SoftCrossEntropy(Tensor logits, Tensor softTargets)
    {
        var (rows, classes) = CheckLogits(logits, "cross_entropy");
        if (!Tensor.SameShape(logits.Shape, softTargets.Shape))
            throw new ShapeException($"cross_entropy: soft targets {softTargets.ShapeString} differ from logits {logits.ShapeString}");
        var logp = LogProbs(logits, rows, classes);
        var qd = NnUtil.Dense(softTargets);
        var loss = Tensor.Empty();
        loss.AsSpan()[0] = Loss.SoftCrossEntropy(logp.AsSpan(), NnUtil.Span(qd), rows, classes);
        if (Graph.NeedsGrad(logits, softTargets)) Graph.Record(loss, new SoftCrossEntropyNode(logits, softTargets, logp, qd));
        return loss;
    }

    private sealed class SoftCrossEntropyNode(Tensor logits, Tensor q, Tensor logp, Tensor qd) : GradNode(logits, q)
    {
        private Tensor? logp = logp, qd = qd;
        public override string Name => "SoftCrossEntropy";

        public override Tensor?[] Backward(Tensor grad)
        {
            int rows = logp!.Shape[0], classes = logp.Shape[1];
            float g = grad.ToArray()[0];
            Tensor? dx = null, dq = null;
            if (Inputs[0].RequiresGrad)
            {
                dx = Tensor.Empty(rows, classes);
                Loss.SoftCrossEntropyBackward(logp.AsSpan(), NnUtil.Span(qd!), rows, classes, g / rows, dx.AsSpan());
            }
            if (Inputs[1].RequiresGrad)
            {
                dq = Tensor.Empty(rows, classes);
                System.Numerics.Tensors.TensorPrimitives.Multiply(logp.AsSpan(), -g / rows, dq.AsSpan());
            }
            return [dx, dq];
        }

        public override void Release() { logp = null; qd = null; }
    }
}
