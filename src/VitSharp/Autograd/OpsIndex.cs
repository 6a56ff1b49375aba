using VitSharp.Autograd;
using VitSharp.Kernels;

namespace VitSharp.Tensors;

// Joins (cat, stack) and indexing (index_select, gather) with autograd.
public sealed partial class Tensor
{
    /// <summary>A view of this tensor's [start, start+length) along dim, never recorded (kernel plumbing).</summary>
    internal Tensor Slice0(int dim, int start, int length)
    {
        var ns = (int[])shape.Clone();
        ns[dim] = length;
        return new Tensor(Storage, ns, strides, Offset + start * strides[dim]);
    }

    private static Tensor CatImpl(IReadOnlyList<Tensor> tensors, int dim)
    {
        if (tensors.Count == 0) throw new ShapeException("cat: expected at least one tensor");
        var first = tensors[0];
        if (first.Rank == 0) throw new ShapeException("cat: zero-dimensional tensor (shape []) cannot be concatenated");
        int d = first.Dim(dim, "cat");
        int total = 0;
        foreach (var t in tensors)
        {
            bool ok = t.Rank == first.Rank;
            for (int i = 0; ok && i < t.Rank; i++) ok = i == d || t.shape[i] == first.shape[i];
            if (!ok)
                throw new ShapeException($"cat: shapes {first.ShapeString} and {t.ShapeString} differ outside dimension {dim}");
            total += t.shape[d];
        }
        var outShape = (int[])first.shape.Clone();
        outShape[d] = total;
        var r = Empty(outShape);
        int off = 0;
        bool needs = false;
        foreach (var t in tensors)
        {
            CopyBroadcast(r.Slice0(d, off, t.shape[d]), t);
            off += t.shape[d];
            needs |= t.RequiresGrad;
        }
        if (needs && Graph.IsEnabled) Graph.Record(r, new CatNode([.. tensors], d, false));
        return r;
    }

    private static Tensor StackImpl(IReadOnlyList<Tensor> tensors, int dim)
    {
        if (tensors.Count == 0) throw new ShapeException("stack: expected at least one tensor");
        var first = tensors[0];
        int rank = first.Rank + 1;
        int d = dim < 0 ? dim + rank : dim;
        if (d < 0 || d >= rank) throw new ShapeException($"stack: dimension {dim} out of range for shape {first.ShapeString}");
        foreach (var t in tensors)
            if (!SameShape(t.shape, first.shape))
                throw new ShapeException($"stack: shapes {first.ShapeString} and {t.ShapeString} differ");
        var outShape = new int[rank];
        for (int i = 0, j = 0; i < rank; i++) outShape[i] = i == d ? tensors.Count : first.shape[j++];
        var r = Empty(outShape);
        bool needs = false;
        for (int i = 0; i < tensors.Count; i++)
        {
            var slot = r.Slice0(d, i, 1);
            var view = new Tensor(slot.Storage, first.shape, RemoveAt(slot.strides, d), slot.Offset);
            CopyBroadcast(view, tensors[i]);
            needs |= tensors[i].RequiresGrad;
        }
        if (needs && Graph.IsEnabled) Graph.Record(r, new CatNode([.. tensors], d, true));
        return r;
    }

    private static int[] RemoveAt(int[] a, int i)
    {
        var r = new int[a.Length - 1];
        for (int k = 0, j = 0; k < a.Length; k++) if (k != i) r[j++] = a[k];
        return r;
    }

    private sealed class CatNode(Tensor[] inputs, int dim, bool stack) : GradNode(inputs)
    {
        public override string Name => stack ? "Stack" : "Cat";

        public override Tensor?[] Backward(Tensor grad)
        {
            var r = new Tensor?[Inputs.Length];
            int off = 0;
            for (int i = 0; i < Inputs.Length; i++)
            {
                var x = Inputs[i];
                int len = stack ? 1 : x.shape[dim];
                if (x.RequiresGrad)
                {
                    var slice = grad.Slice0(dim, off, len);
                    r[i] = stack ? new Tensor(slice.Storage, x.shape, RemoveAt(slice.strides, dim), slice.Offset) : slice;
                }
                off += len;
            }
            return r;
        }
    }

    private Tensor IndexSelectImpl(int dim, int[] index)
    {
        if (Rank == 0) throw new ShapeException("index_select: cannot index a zero-dimensional tensor (shape [])");
        int d = Dim(dim, "index_select");
        int n = shape[d];
        foreach (var i in index)
            if ((uint)i >= (uint)n)
                throw new ShapeException($"index_select: index {i} out of range for dimension {dim} of shape {ShapeString}");
        var outShape = (int[])shape.Clone();
        outShape[d] = index.Length;
        var r = Empty(outShape);
        for (int i = 0; i < index.Length; i++) CopyBroadcast(r.Slice0(d, i, 1), Slice0(d, index[i], 1));
        if (Graph.NeedsGrad(this)) Graph.Record(r, new IndexSelectNode(this, d, (int[])index.Clone()));
        return r;
    }

    private sealed class IndexSelectNode(Tensor x, int dim, int[] index) : GradNode(x)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            // index_add: repeated indices accumulate.
            var gx = Zeros(Inputs[0].shape);
            for (int i = 0; i < index.Length; i++)
            {
                var dst = gx.Slice0(dim, index[i], 1);
                BinaryInto(dst, dst, grad.Slice0(dim, i, 1), new AddOp());
            }
            return [gx];
        }
    }

    private Tensor GatherImpl(int dim, Tensor index)
    {
        if (index.Rank != Rank)
            throw new ShapeException($"gather: index shape {index.ShapeString} and input shape {ShapeString} differ in rank");
        if (Rank == 0) throw new ShapeException("gather: cannot gather from a zero-dimensional tensor (shape [])");
        int d = Dim(dim, "gather");
        for (int i = 0; i < Rank; i++)
            if (i != d && index.shape[i] > shape[i])
                throw new ShapeException($"gather: index shape {index.ShapeString} exceeds input shape {ShapeString} in dimension {i}");
        var offsets = GatherOffsets(this, d, index, "gather");
        var r = Empty(index.shape);
        var x = Dense();
        var src = x.Storage.Data;
        int xo = x.Offset;
        var dst = r.Storage.Data;
        for (int i = 0; i < offsets.Length; i++) dst[i] = src[xo + offsets[i]];
        if (Graph.NeedsGrad(this)) Graph.Record(r, new GatherNode(this, offsets));
        return r;
    }

    /// <summary>Row-major (dense) offsets into x for each element of index, validating every index.</summary>
    private static int[] GatherOffsets(Tensor x, int dim, Tensor index, string op)
    {
        var idx = index.ToArray();
        var offsets = new int[idx.Length];
        int rank = x.Rank;
        if (idx.Length == 0) return offsets;
        Span<int> pos = stackalloc int[rank];
        pos.Clear();
        int n = x.shape[dim];
        var cs = ContiguousStrides(x.shape);
        for (int e = 0; e < idx.Length; e++)
        {
            float v = idx[e];
            int iv = (int)v;
            if (iv != v || (uint)iv >= (uint)n)
                throw new ShapeException($"{op}: index value {v} out of range for dimension {dim} of shape {x.ShapeString}");
            int o = 0;
            for (int k = 0; k < rank; k++) o += (k == dim ? iv : pos[k]) * cs[k];
            offsets[e] = o;
            for (int k = rank - 1; k >= 0; k--)
            {
                if (++pos[k] < index.shape[k]) break;
                pos[k] = 0;
            }
        }
        return offsets;
    }

    private sealed class GatherNode(Tensor x, int[] offsets) : GradNode(x)
    {
        private int[]? offsets = offsets;

        public override Tensor?[] Backward(Tensor grad)
        {
            // scatter_add: repeated indices accumulate.
            var gx = Zeros(Inputs[0].shape);
            var acc = gx.Storage.Data;
            var g = grad.Dense();
            var gs = g.Storage.Data;
            var off = offsets!;
            for (int i = 0; i < off.Length; i++) acc[off[i]] += gs[g.Offset + i];
            return [gx];
        }

        public override void Release() => offsets = null;
    }
}
