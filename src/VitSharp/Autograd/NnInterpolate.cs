using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>F.interpolate for bilinear/bicubic over the last two dims, with its (adjoint) backward.</summary>
internal static class NnInterpolate
{
    public static Tensor Forward(Tensor x, int outH, int outW, InterpolationMode mode, bool alignCorners, bool antialias)
    {
        if (x.Rank < 2) throw new ShapeException($"interpolate: input {x.ShapeString} needs at least two dimensions");
        if (outH <= 0 || outW <= 0) throw new ShapeException($"interpolate: output size {outH}×{outW} must be positive (input {x.ShapeString})");
        int h = x.Shape[^2], w = x.Shape[^1];
        if (h == 0 || w == 0) throw new ShapeException($"interpolate: input {x.ShapeString} is empty");
        int planes = x.Numel / (h * w);
        var shape = (int[])x.Shape.Clone();
        shape[^2] = outH;
        shape[^1] = outW;
        var xd = NnUtil.Dense(x);
        var y = Tensor.Empty(shape);
        bool cubic = mode == InterpolationMode.Bicubic;
        Kernels.Interpolate.Resize(NnUtil.Span(xd), planes, h, w, outH, outW, cubic, alignCorners, antialias, y.AsSpan());
        if (Graph.NeedsGrad(x)) Graph.Record(y, new InterpolateNode(x, planes, h, w, outH, outW, cubic, alignCorners, antialias));
        return y;
    }

    private sealed class InterpolateNode(Tensor x, int planes, int h, int w, int oh, int ow, bool cubic, bool alignCorners, bool antialias) : GradNode(x)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var dx = Tensor.Empty(Inputs[0].Shape);
            Kernels.Interpolate.ResizeBackward(NnUtil.Span(g), planes, h, w, oh, ow, cubic, alignCorners, antialias, dx.AsSpan());
            return [dx];
        }
    }
}
