using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>LayerNorm (last dim) and GroupNorm (NCHW) with fused backward including weight and bias.</summary>
internal static class NnNorm
{
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps)
    {
        if (x.Rank == 0) throw new ShapeException($"layer_norm: input {x.ShapeString} has no feature dimension");
        int dim = x.Shape[^1];
        NnUtil.CheckVector(weight, dim, "layer_norm", "weight", x);
        NnUtil.CheckVector(bias, dim, "layer_norm", "bias", x);
        int rows = dim == 0 ? 0 : x.Numel / dim;
        var xd = NnUtil.Dense(x);
        var wd = weight == null ? null : NnUtil.Dense(weight);
        var bd = bias == null ? null : NnUtil.Dense(bias);
        var y = Tensor.Empty(x.Shape);
        bool grad = Graph.NeedsGrad(x, weight, bias);
        var mean = grad ? Tensor.Empty(rows) : null;
        var rstd = grad ? Tensor.Empty(rows) : null;
        Kernels.LayerNorm.Forward(NnUtil.Span(xd), wd == null ? default : NnUtil.Span(wd), bd == null ? default : NnUtil.Span(bd),
            y.AsSpan(), mean == null ? default : mean.AsSpan(), rstd == null ? default : rstd.AsSpan(), rows, dim, eps);
        if (grad) Graph.Record(y, new LayerNormNode(x, weight, bias, xd, wd, mean!, rstd!, rows, dim));
        return y;
    }

    private static Tensor[] Inputs3(Tensor x, Tensor? w, Tensor? b)
    {
        var l = new List<Tensor> { x };
        if (w != null) l.Add(w);
        if (b != null) l.Add(b);
        return [.. l];
    }

    private sealed class LayerNormNode(Tensor x, Tensor? w, Tensor? b, Tensor xd, Tensor? wd, Tensor mean, Tensor rstd, int rows, int dim)
        : GradNode(Inputs3(x, w, b))
    {
        private Tensor? xd = xd, wd = wd, mean = mean, rstd = rstd;
        private readonly bool hasW = w != null, hasB = b != null;

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var x = Inputs[0];
            Tensor? dx = x.RequiresGrad ? Tensor.Empty(x.Shape) : null;
            Tensor? dw = hasW && Inputs[1].RequiresGrad ? Tensor.Empty(dim) : null;
            Tensor? db = hasB && Inputs[hasW ? 2 : 1].RequiresGrad ? Tensor.Empty(dim) : null;
            Kernels.LayerNorm.Backward(NnUtil.Span(xd!), wd == null ? default : NnUtil.Span(wd), mean!.AsSpan(), rstd!.AsSpan(), NnUtil.Span(g),
                dx == null ? default : dx.AsSpan(), dw == null ? default : dw.AsSpan(), db == null ? default : db.AsSpan(), rows, dim);
            var r = new List<Tensor?> { dx };
            if (hasW) r.Add(dw);
            if (hasB) r.Add(db);
            return [.. r];
        }

        public override void Release() { xd = null; wd = null; mean = null; rstd = null; }
    }

    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps)
    {
        if (x.Rank < 2) throw new ShapeException($"group_norm: input {x.ShapeString} must be (N, C, ...)");
        int n = x.Shape[0], c = x.Shape[1];
        if (groups <= 0 || c % groups != 0) throw new ShapeException($"group_norm: {c} channels of input {x.ShapeString} are not divisible into {groups} groups");
        NnUtil.CheckVector(weight, c, "group_norm", "weight", x);
        NnUtil.CheckVector(bias, c, "group_norm", "bias", x);
        int hw = n * c == 0 ? 0 : x.Numel / (n * c);
        var xd = NnUtil.Dense(x);
        var wd = weight == null ? null : NnUtil.Dense(weight);
        var bd = bias == null ? null : NnUtil.Dense(bias);
        var y = Tensor.Empty(x.Shape);
        var mean = Tensor.Empty(n * groups);
        var rstd = Tensor.Empty(n * groups);
        Kernels.GroupNorm.Forward(NnUtil.Span(xd), wd == null ? default : NnUtil.Span(wd), bd == null ? default : NnUtil.Span(bd),
            y.AsSpan(), mean.AsSpan(), rstd.AsSpan(), n, c, hw, groups, eps);
        if (Graph.NeedsGrad(x, weight, bias)) Graph.Record(y, new GroupNormNode(x, weight, bias, xd, wd, mean, rstd, n, c, hw, groups));
        return y;
    }

    private sealed class GroupNormNode(Tensor x, Tensor? w, Tensor? b, Tensor xd, Tensor? wd, Tensor mean, Tensor rstd, int n, int c, int hw, int groups)
        : GradNode(Inputs3(x, w, b))
    {
        private Tensor? xd = xd, wd = wd, mean = mean, rstd = rstd;
        private readonly bool hasW = w != null, hasB = b != null;

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var x = Inputs[0];
            Tensor? dx = x.RequiresGrad ? Tensor.Empty(x.Shape) : null;
            Tensor? dw = hasW && Inputs[1].RequiresGrad ? Tensor.Empty(c) : null;
            Tensor? db = hasB && Inputs[hasW ? 2 : 1].RequiresGrad ? Tensor.Empty(c) : null;
            Kernels.GroupNorm.Backward(NnUtil.Span(xd!), wd == null ? default : NnUtil.Span(wd), mean!.AsSpan(), rstd!.AsSpan(), NnUtil.Span(g),
                dx == null ? default : dx.AsSpan(), dw == null ? default : dw.AsSpan(), db == null ? default : db.AsSpan(), n, c, hw, groups);
            var r = new List<Tensor?> { dx };
            if (hasW) r.Add(dw);
            if (hasB) r.Add(db);
            return [.. r];
        }

        public override void Release() { xd = null; wd = null; mean = null; rstd = null; }
    }
}
