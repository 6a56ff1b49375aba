using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Small helpers shared by the NN ops.</summary>
internal static class NnUtil
{
    /// <summary>The tensor itself when contiguous, else an unrecorded dense copy (for kernels).</summary>
    public static Tensor Dense(Tensor t) => t.IsContiguous ? t : t.Clone0();

    public static Span<float> Span(Tensor t) => t.Storage.Data.AsSpan(t.Offset, t.Numel);

    public static void CheckVector(Tensor? p, int n, string op, string what, Tensor x)
    {
        if (p == null) return;
        if (p.Rank != 1 || p.Shape[0] != n)
            throw new ShapeException($"{op}: {what} of shape {p.ShapeString} does not match {n} features of input {x.ShapeString}");
    }
}

/// <summary>Element-wise activations whose backward needs either the input or the output.</summary>
internal static class NnActivation
{
    public static Tensor Apply<TOp, TGrad>(Tensor x, string name, bool gradFromOutput) where TOp : struct, IVecUnaryOp where TGrad : struct, IVecBinaryOp
    {
        var xd = NnUtil.Dense(x);
        var y = Tensor.Empty(x.Shape);
        VecElementwise.Unary<TOp>(NnUtil.Span(xd), y.AsSpan());
        if (Graph.NeedsGrad(x)) Graph.Record(y, new ActivationNode<TGrad>(x, gradFromOutput ? y.Detach() : xd, name));
        return y;
    }

    private sealed class ActivationNode<TGrad>(Tensor input, Tensor saved, string name) : GradNode(input) where TGrad : struct, IVecBinaryOp
    {
        private Tensor? saved = saved;
        public override string Name => name;

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var dx = Tensor.Empty(Inputs[0].Shape);
            VecElementwise.Binary<TGrad>(NnUtil.Span(saved!), NnUtil.Span(g), dx.AsSpan());
            return [dx];
        }

        public override void Release() => saved = null;
    }
}
