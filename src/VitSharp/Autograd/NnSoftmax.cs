using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Softmax / log-softmax over any dimension (max-subtracted), backward from the saved output.</summary>
internal static class NnSoftmax
{
    public static Tensor Forward(Tensor x, int dim, bool log)
    {
        int d = x.Dim(dim, log ? "log_softmax" : "softmax");
        var xd = NnUtil.Dense(x);
        var (outer, n, inner) = Split(x.Shape, d);
        var y = Tensor.Empty(x.Shape);
        Kernels.Softmax.Forward(NnUtil.Span(xd), y.AsSpan(), outer, n, inner, log);
        if (Graph.NeedsGrad(x)) Graph.Record(y, new SoftmaxNode(x, y.Detach(), outer, n, inner, log));
        return y;
    }

    internal static (int outer, int n, int inner) Split(int[] shape, int d)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < d; i++) outer *= shape[i];
        for (int i = d + 1; i < shape.Length; i++) inner *= shape[i];
        return (outer, shape[d], inner);
    }

    private sealed class SoftmaxNode(Tensor x, Tensor y, int outer, int n, int inner, bool log) : GradNode(x)
    {
        private Tensor? y = y;
        public override string Name => log ? "LogSoftmax" : "Softmax";

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var dx = Tensor.Empty(Inputs[0].Shape);
            Kernels.Softmax.Backward(y!.AsSpan(), NnUtil.Span(g), dx.AsSpan(), outer, n, inner, log);
            return [dx];
        }

        public override void Release() => y = null;
    }
}
