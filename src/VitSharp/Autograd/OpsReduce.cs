using VitSharp.Autograd;
using VitSharp.Kernels;

namespace VitSharp.Tensors;

// Reductions with autograd. Kernels live in Kernels/Reduce.cs.
public sealed partial class Tensor
{
    /// <summary>This tensor if contiguous, else an unrecorded dense copy (kernel input).</summary>
    internal Tensor Dense() => IsContiguous ? this : Clone0();

    /// <summary>A dense tensor of <paramref name="target"/> shape holding scale · g broadcast (reduction backward).</summary>
    internal static Tensor BroadcastScaled(Tensor g, int[] target, float scale)
    {
        var r = Empty(target);
        if (scale == 1f) CopyBroadcast(r, g);
        else UnaryInto(r, g, new MulScalarOp(scale));
        return r;
    }

    /// <summary>dst = src broadcast to dst's shape (strided on both sides).</summary>
    internal static unsafe void CopyBroadcast(Tensor dst, Tensor src)
    {
        if (dst.Numel == 0) return;
        int rank = dst.Rank;
        CheckRank(rank, "copy");
        Span<int> ss = stackalloc int[rank];
        BroadcastStrides(src, dst.shape, ss);
        fixed (float* ps = src.Storage.Data, pd = dst.Storage.Data)
            Copy.Strided(dst.shape, ps + src.Offset, ss, pd + dst.Offset, dst.strides);
    }

    private unsafe Tensor SumAllImpl(float scale, string op)
    {
        var x = Dense();
        var y = Empty();
        double s;
        fixed (float* p = x.Storage.Data) s = Reduce.Sum(p + x.Offset, x.Numel);
        y.Storage.Data[0] = (float)(s * scale);
        if (Graph.NeedsGrad(this)) Graph.Record(y, new SumAllNode(this, scale, op));
        return y;
    }

    private (int outer, int d, int inner) Split(int dim)
    {
        int outer = 1, inner = 1;
        for (int i = 0; i < dim; i++) outer *= shape[i];
        for (int i = dim + 1; i < Rank; i++) inner *= shape[i];
        return (outer, shape[dim], inner);
    }

    private int[] ReducedShape(int dim, bool keepDim)
    {
        if (keepDim)
        {
            var s = (int[])shape.Clone();
            s[dim] = 1;
            return s;
        }
        var r = new int[Rank - 1];
        for (int i = 0, j = 0; i < Rank; i++) if (i != dim) r[j++] = shape[i];
        return r;
    }

    private unsafe Tensor SumDimImpl(int dim, bool keepDim, bool mean, string op)
    {
        if (Rank == 0) throw new ShapeException($"{op}: cannot reduce dimension {dim} of a scalar (shape [])");
        int d = Dim(dim, op);
        var (outer, n, inner) = Split(d);
        float scale = mean ? 1f / n : 1f;
        var x = Dense();
        var y = Empty(ReducedShape(d, keepDim));
        if (y.Numel > 0)
        {
            fixed (float* px = x.Storage.Data, py = y.Storage.Data)
            {
                if (inner == 1) Reduce.SumLast(px + x.Offset, outer, n, py, scale);
                else Reduce.SumMiddle(px + x.Offset, outer, n, inner, py, scale);
            }
        }
        if (Graph.NeedsGrad(this)) Graph.Record(y, new SumDimNode(this, d, keepDim, scale, op));
        return y;
    }

    private unsafe (Tensor values, int[] index) MaxCore(int dim, bool keepDim, string op)
    {
        if (Rank == 0) throw new ShapeException($"{op}: cannot reduce dimension {dim} of a scalar (shape [])");
        int d = Dim(dim, op);
        var (outer, n, inner) = Split(d);
        if (n == 0) throw new ShapeException($"{op}: dimension {dim} of shape {ShapeString} is empty");
        var x = Dense();
        var y = Empty(ReducedShape(d, keepDim));
        var index = new int[outer * inner];
        if (index.Length > 0)
        {
            fixed (float* px = x.Storage.Data, py = y.Storage.Data)
            fixed (int* pi = index)
                Reduce.MaxMiddle(px + x.Offset, outer, n, inner, py, pi);
        }
        return (y, index);
    }

    private Tensor MaxImpl(int dim, bool keepDim)
    {
        var (y, index) = MaxCore(dim, keepDim, "max");
        if (Graph.NeedsGrad(this)) Graph.Record(y, new MaxNode(this, Dim(dim), index));
        return y;
    }

    private sealed class SumAllNode(Tensor x, float scale, string op) : GradNode(x)
    {
        public override string Name => op;

        public override Tensor?[] Backward(Tensor grad) => [Full(grad.Item() * scale, Inputs[0].shape)];
    }

    private sealed class SumDimNode(Tensor x, int dim, bool keepDim, float scale, string op) : GradNode(x)
    {
        public override string Name => op;

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = keepDim ? grad : grad.Unsqueeze(dim);
            return [BroadcastScaled(g, Inputs[0].shape, scale)];
        }
    }

    private sealed class MaxNode(Tensor x, int dim, int[] index) : GradNode(x)
    {
        private int[]? index = index;

        public override Tensor?[] Backward(Tensor grad)
        {
            var x = Inputs[0];
            var (outer, n, inner) = x.Split(dim);
            var gx = Zeros(x.shape);
            var g = grad.Dense();
            var gs = g.Storage.Data;
            var dst = gx.Storage.Data;
            var idx = index!;
            int go = g.Offset;
            for (int o = 0; o < outer; o++)
                for (int j = 0; j < inner; j++)
                    dst[((long)o * n + idx[o * inner + j]) * inner + j] = gs[go + o * inner + j];
            return [gx];
        }

        public override void Release() => index = null;
    }
}
