using VitSharp.Autograd;

namespace VitSharp.Tensors;

// View operations: they share storage and record a node so gradients flow back through them.
public sealed partial class Tensor
{
    internal static bool SameShapeAs(Tensor a, Tensor b) => SameShape(a.shape, b.shape);

    /// <summary>Dense copy that is never recorded (for engine internals).</summary>
    internal Tensor Clone0()
    {
        var r = Empty(shape);
        CopyTo(r.AsSpan());
        return r;
    }

    /// <summary>Resolves a single -1 in <paramref name="newShape"/> against <paramref name="numel"/>.</summary>
    private static int[] InferShape(int[] newShape, int numel, string op, string from)
    {
        var s = (int[])newShape.Clone();
        int infer = -1;
        long known = 1;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] == -1)
            {
                if (infer >= 0) throw new ShapeException($"{op}: only one -1 allowed in {ShapeToString(newShape)}");
                infer = i;
            }
            else if (s[i] < 0) throw new ShapeException($"{op}: invalid size in {ShapeToString(newShape)}");
            else known *= s[i];
        }
        if (infer >= 0)
        {
            if (known == 0 || numel % known != 0)
                throw new ShapeException($"{op}: cannot view {from} ({numel} elements) as {ShapeToString(newShape)}");
            s[infer] = (int)(numel / known);
        }
        else if (known != numel)
            throw new ShapeException($"{op}: cannot view {from} ({numel} elements) as {ShapeToString(newShape)}");
        return s;
    }

    /// <summary>Same data with a new shape; requires a contiguous tensor (use <see cref="Reshape"/> otherwise).</summary>
    public Tensor View(params int[] newShape)
    {
        var s = InferShape(newShape, Numel, "view", ShapeString);
        if (!IsContiguous)
            throw new ShapeException($"view: tensor of shape {ShapeString} strides {ShapeToString(strides)} is not contiguous; use Reshape");
        var r = new Tensor(Storage, s, ContiguousStrides(s), Offset);
        if (Graph.NeedsGrad(this)) Graph.Record(r, new ReshapeNode(this));
        return r;
    }

    /// <summary>A view when the data is contiguous, otherwise a reshaped copy.</summary>
    public Tensor Reshape(params int[] newShape) => IsContiguous ? View(newShape) : Contiguous().View(newShape);

    public Tensor Flatten(int startDim = 0, int endDim = -1)
    {
        if (Rank == 0) return Reshape(1);
        int s = Dim(startDim, "flatten"), e = Dim(endDim, "flatten");
        if (s > e) throw new ShapeException($"flatten: start dim {startDim} after end dim {endDim} for shape {ShapeString}");
        var ns = new List<int>();
        for (int i = 0; i < s; i++) ns.Add(shape[i]);
        int p = 1;
        for (int i = s; i <= e; i++) p *= shape[i];
        ns.Add(p);
        for (int i = e + 1; i < Rank; i++) ns.Add(shape[i]);
        return Reshape([.. ns]);
    }

    public Tensor Unsqueeze(int dim)
    {
        int d = dim < 0 ? dim + Rank + 1 : dim;
        if (d < 0 || d > Rank) throw new ShapeException($"unsqueeze: dimension {dim} out of range for shape {ShapeString}");
        var ns = new int[Rank + 1];
        var st = new int[Rank + 1];
        for (int i = 0, j = 0; i < ns.Length; i++)
        {
            if (i == d) { ns[i] = 1; st[i] = j < Rank ? strides[j] * shape[j] : 1; }
            else { ns[i] = shape[j]; st[i] = strides[j]; j++; }
        }
        var r = new Tensor(Storage, ns, st, Offset);
        if (Graph.NeedsGrad(this)) Graph.Record(r, new ReshapeNode(this));
        return r;
    }

    public Tensor Squeeze(int dim)
    {
        int d = Dim(dim, "squeeze");
        if (shape[d] != 1) return this;
        var ns = new int[Rank - 1];
        var st = new int[Rank - 1];
        for (int i = 0, j = 0; i < Rank; i++)
        {
            if (i == d) continue;
            ns[j] = shape[i]; st[j] = strides[i]; j++;
        }
        var r = new Tensor(Storage, ns, st, Offset);
        if (Graph.NeedsGrad(this)) Graph.Record(r, new ReshapeNode(this));
        return r;
    }

    /// <summary>Reorders dimensions (a view).</summary>
    public Tensor Permute(params int[] dims)
    {
        if (dims.Length != Rank) throw new ShapeException($"permute: {dims.Length} dims given for shape {ShapeString}");
        var ns = new int[Rank];
        var st = new int[Rank];
        var seen = new bool[Rank];
        for (int i = 0; i < Rank; i++)
        {
            int d = Dim(dims[i], "permute");
            if (seen[d]) throw new ShapeException($"permute: dimension {dims[i]} repeated in {ShapeToString(dims)}");
            seen[d] = true;
            ns[i] = shape[d];
            st[i] = strides[d];
        }
        var r = new Tensor(Storage, ns, st, Offset);
        if (Graph.NeedsGrad(this))
        {
            var inv = new int[Rank];
            for (int i = 0; i < Rank; i++) inv[Dim(dims[i])] = i;
            Graph.Record(r, new PermuteNode(this, inv));
        }
        return r;
    }

    /// <summary>Swaps two dimensions (a view).</summary>
    public Tensor Transpose(int dim0, int dim1)
    {
        var p = new int[Rank];
        for (int i = 0; i < Rank; i++) p[i] = i;
        int a = Dim(dim0, "transpose"), b = Dim(dim1, "transpose");
        (p[a], p[b]) = (p[b], p[a]);
        return Permute(p);
    }

    /// <summary>Matrix transpose of the last two dimensions.</summary>
    public Tensor T => Transpose(-2, -1);

    /// <summary>Elements <paramref name="start"/> .. start+length-1 along <paramref name="dim"/> (a view).</summary>
    public Tensor Narrow(int dim, int start, int length)
    {
        int d = Dim(dim, "narrow");
        if (start < 0) start += shape[d];
        if (start < 0 || length < 0 || start + length > shape[d])
            throw new ShapeException($"narrow: range [{start}, {start + length}) out of bounds for dimension {dim} of shape {ShapeString}");
        var ns = (int[])shape.Clone();
        ns[d] = length;
        var r = new Tensor(Storage, ns, (int[])strides.Clone(), Offset + start * strides[d]);
        if (Graph.NeedsGrad(this)) Graph.Record(r, new NarrowNode(this, d, start));
        return r;
    }

    /// <summary>Picks index <paramref name="index"/> along <paramref name="dim"/>, removing that dimension.</summary>
    public Tensor Select(int dim, int index)
    {
        int d = Dim(dim, "select");
        if (index < 0) index += shape[d];
        if (index < 0 || index >= shape[d]) throw new ShapeException($"select: index {index} out of range for dimension {dim} of shape {ShapeString}");
        return Narrow(d, index, 1).Squeeze(d);
    }

    /// <summary>Broadcasts size-1 (or missing leading) dimensions to <paramref name="newShape"/> with stride 0; -1 keeps a size.</summary>
    public Tensor Expand(params int[] newShape)
    {
        if (newShape.Length < Rank) throw new ShapeException($"expand: target {ShapeToString(newShape)} has fewer dims than {ShapeString}");
        var ns = new int[newShape.Length];
        var st = new int[newShape.Length];
        int lead = newShape.Length - Rank;
        for (int i = 0; i < newShape.Length; i++)
        {
            int target = newShape[i];
            if (i < lead)
            {
                if (target < 0) throw new ShapeException($"expand: -1 not allowed for new leading dimension in {ShapeToString(newShape)}");
                ns[i] = target; st[i] = 0;
                continue;
            }
            int src = shape[i - lead];
            if (target == -1 || target == src) { ns[i] = src; st[i] = strides[i - lead]; }
            else if (src == 1) { ns[i] = target; st[i] = 0; }
            else throw new ShapeException($"expand: cannot expand shape {ShapeString} to {ShapeToString(newShape)}");
        }
        var r = new Tensor(Storage, ns, st, Offset);
        if (Graph.NeedsGrad(this)) Graph.Record(r, new ExpandNode(this));
        return r;
    }

    /// <summary>The broadcast shape of two shapes (NumPy rules), or a ShapeException naming the op.</summary>
    public static int[] BroadcastShapes(int[] a, int[] b, string op)
    {
        int rank = Math.Max(a.Length, b.Length);
        var r = new int[rank];
        for (int i = 0; i < rank; i++)
        {
            int da = i - (rank - a.Length) >= 0 ? a[i - (rank - a.Length)] : 1;
            int db = i - (rank - b.Length) >= 0 ? b[i - (rank - b.Length)] : 1;
            if (da == db || db == 1) r[i] = da;
            else if (da == 1) r[i] = db;
            else throw new ShapeException($"{op}: shapes {ShapeToString(a)} and {ShapeToString(b)} cannot be broadcast");
        }
        return r;
    }

    /// <summary>Sums a gradient of a broadcast shape back down to <paramref name="target"/> (for expand/broadcast backward).</summary>
    public static unsafe Tensor SumToShape(Tensor g, int[] target)
    {
        if (SameShape(g.shape, target)) return g;
        int lead = g.Rank - target.Length;
        if (lead < 0) throw new ShapeException($"sum_to_shape: {g.ShapeString} has fewer dims than {ShapeToString(target)}");
        for (int i = lead; i < g.Rank; i++)
        {
            int t = target[i - lead];
            if (t != g.shape[i] && t != 1)
                throw new ShapeException($"sum_to_shape: cannot reduce {g.ShapeString} to {ShapeToString(target)}");
        }
        if (g.Numel == 0) return Zeros(target);

        // Group g's dims into alternating runs of kept (K) and reduced (R) dims, skipping size-1 dims. The common
        // patterns (bias grads: R,K; per-row sums: K,R; middle: K,R,K) go to the accurate reduce kernels.
        Span<int> runSize = stackalloc int[g.Rank + 1];
        Span<bool> runReduced = stackalloc bool[g.Rank + 1];
        int runs = 0;
        for (int i = 0; i < g.Rank; i++)
        {
            int d = g.shape[i];
            if (d == 1) continue;
            bool reduced = i < lead || target[i - lead] == 1;
            if (runs > 0 && runReduced[runs - 1] == reduced) runSize[runs - 1] *= d;
            else { runSize[runs] = d; runReduced[runs] = reduced; runs++; }
        }
        var src = g.IsContiguous ? g : g.Clone0();
        var result = Empty(target);
        fixed (float* ps0 = src.Storage.Data, pr = result.Storage.Data)
        {
            float* ps = ps0 + src.Offset;
            if (runs == 0 || (runs == 1 && !runReduced[0])) { src.CopyTo(result.AsSpan()); return result; }
            if (runs == 1) { *pr = (float)Kernels.Reduce.Sum(ps, src.Numel); return result; }
            if (runs == 2 && runReduced[0]) { Kernels.Reduce.SumMiddle(ps, 1, runSize[0], runSize[1], pr, 1f); return result; }
            if (runs == 2) { Kernels.Reduce.SumLast(ps, runSize[0], runSize[1], pr, 1f); return result; }
            if (runs == 3 && !runReduced[0]) { Kernels.Reduce.SumMiddle(ps, runSize[0], runSize[1], runSize[2], pr, 1f); return result; }
        }

        // General pattern: accumulate g into the result viewed with stride 0 on reduced dims.
        result.AsSpan().Clear();
        var st = new int[g.Rank];
        var rs = result.strides;
        for (int i = 0; i < g.Rank; i++)
            st[i] = i < lead || (target[i - lead] == 1 && g.shape[i] != 1) ? 0 : rs[i - lead];
        var sv = src.AsSpan();
        var dst = result.Storage.Data;
        int rank = g.Rank;
        Span<int> idx = stackalloc int[rank];
        int off = 0;
        for (int n = 0; n < sv.Length; n++)
        {
            dst[off] += sv[n];
            for (int k = rank - 1; k >= 0; k--)
            {
                idx[k]++;
                off += st[k];
                if (idx[k] < g.shape[k]) break;
                off -= st[k] * g.shape[k];
                idx[k] = 0;
            }
        }
        return result;
    }

    private sealed class ReshapeNode(Tensor input) : GradNode(input)
    {
        public override Tensor?[] Backward(Tensor grad) => [grad.Reshape(Inputs[0].Shape)];
    }

    private sealed class PermuteNode(Tensor input, int[] inverse) : GradNode(input)
    {
        public override Tensor?[] Backward(Tensor grad) => [grad.Permute(inverse)];
    }

    private sealed class NarrowNode(Tensor input, int dim, int start) : GradNode(input)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            var g = Zeros(Inputs[0].Shape);
            using (Graph.NoGrad()) g.Narrow(dim, start, grad.Shape[dim]).CopyFrom(grad);
            return [g];
        }
    }

    private sealed class ExpandNode(Tensor input) : GradNode(input)
    {
        public override Tensor?[] Backward(Tensor grad) => [SumToShape(grad, Inputs[0].Shape)];
    }
}
