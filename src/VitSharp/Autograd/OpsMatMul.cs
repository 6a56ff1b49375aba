using VitSharp.Autograd;
using VitSharp.Kernels;

namespace VitSharp.Tensors;

// torch.matmul on top of Kernels.Gemm. Transposed views (last two strides swapped) are passed to the GEMM as
// transA/transB instead of being copied, so x·Wᵀ (Linear) and the backward's NT/TN products copy nothing.
public sealed partial class Tensor
{
    private static Tensor MatMulImpl(Tensor a, Tensor b)
    {
        if (a.Rank == 0 || b.Rank == 0)
            throw new ShapeException($"matmul: {a.ShapeString} @ {b.ShapeString}: both operands need at least one dimension");
        int ka = a.shape[^1];
        int kb = b.Rank == 1 ? b.shape[0] : b.shape[^2];
        if (ka != kb)
            throw new ShapeException($"matmul: {a.ShapeString} @ {b.ShapeString}: inner dimensions {ka} and {kb} differ");
        if (a.Rank == 1 && b.Rank == 1) return MatMulCore(a.Unsqueeze(0), b.Unsqueeze(1), a, b).Reshape();
        if (a.Rank == 1) return MatMulCore(a.Unsqueeze(0), b, a, b).Squeeze(-2);
        if (b.Rank == 1) return MatMulCore(a, b.Unsqueeze(1), a, b).Squeeze(-1);
        return MatMulCore(a, b, a, b);
    }

    /// <summary>Both operands rank ≥ 2; <paramref name="oa"/>/<paramref name="ob"/> are the user's operands (for messages).</summary>
    private static Tensor MatMulCore(Tensor a, Tensor b, Tensor oa, Tensor ob)
    {
        int m = a.shape[^2], n = b.shape[^1];
        var batch = MatMulBatchShape(a, b, oa, ob);
        var outShape = new int[batch.Length + 2];
        batch.CopyTo(outShape, 0);
        outShape[^2] = m;
        outShape[^1] = n;
        var c = Empty(outShape);
        MatMulInto(c, a, b);
        if (Graph.NeedsGrad(a, b)) Graph.Record(c, new MatMulNode(a, b));
        return c;
    }

    private static int[] MatMulBatchShape(Tensor a, Tensor b, Tensor oa, Tensor ob)
    {
        var ba = a.shape.AsSpan(0, a.Rank - 2).ToArray();
        var bb = b.shape.AsSpan(0, b.Rank - 2).ToArray();
        if (SameShape(ba, bb)) return ba;
        try { return BroadcastShapes(ba, bb, "matmul"); }
        catch (ShapeException)
        {
            throw new ShapeException($"matmul: {oa.ShapeString} @ {ob.ShapeString}: batch dimensions {ShapeToString(ba)} and {ShapeToString(bb)} cannot be broadcast");
        }
    }

    /// <summary>How a matrix (the last two dims) can be handed to the GEMM without a copy.</summary>
    private static bool MatrixLayout(Tensor t, out bool trans, out int ld)
    {
        int r = t.shape[^2], c = t.shape[^1];
        int s0 = t.strides[^2], s1 = t.strides[^1];
        if ((c == 1 || s1 == 1) && (r == 1 || s0 >= c))
        {
            trans = false;
            ld = r == 1 ? c : s0;
            return true;
        }
        if ((r == 1 || s0 == 1) && (c == 1 || s1 >= r))
        {
            trans = true;
            ld = c == 1 ? r : s1;
            return true;
        }
        trans = false;
        ld = 0;
        return false;
    }

    /// <summary>c = a @ b with c dense of the broadcast batch shape; a, b rank ≥ 2 with matching inner dims.</summary>
    internal static void MatMulInto(Tensor c, Tensor a, Tensor b)
    {
        int m = a.shape[^2], k = a.shape[^1], n = b.shape[^1];
        if (c.Numel == 0) return;
        if (k == 0) { c.AsSpan().Clear(); return; }
        if (!MatrixLayout(a, out bool ta, out int lda)) { a = a.Clone0(); MatrixLayout(a, out ta, out lda); }
        if (!MatrixLayout(b, out bool tb, out int ldb)) { b = b.Clone0(); MatrixLayout(b, out tb, out ldb); }

        int bRank = c.Rank - 2;
        CheckRank(bRank + 1, "matmul");
        var batch = c.shape.AsSpan(0, bRank);
        Span<int> sa = stackalloc int[bRank + 1];
        Span<int> sb = stackalloc int[bRank + 1];
        Span<int> sc = stackalloc int[bRank + 1];
        BatchStrides(a, batch, sa);
        BatchStrides(b, batch, sb);
        for (int i = 0; i < bRank; i++) sc[i] = c.strides[i];

        var A = a.Storage.Data;
        var B = b.Storage.Data;
        var C = c.Storage.Data;

        // Linear-style fold: b is one matrix shared by the whole batch and a's batch rows are evenly spaced,
        // so the batch becomes extra rows of a single large GEMM (much better blocking than many small ones).
        if (!ta && RowsFold(batch, sa, sb, lda, m))
        {
            int rows = m;
            foreach (var d in batch) rows *= d;
            Gemm.Sgemm(false, tb, rows, n, k, 1f, A.AsSpan(a.Offset), lda, B.AsSpan(b.Offset), ldb, 0f, C.AsSpan(c.Offset), n);
            return;
        }

        Span<int> dims = stackalloc int[bRank + 1];
        Span<int> xa = stackalloc int[bRank + 1];
        Span<int> xb = stackalloc int[bRank + 1];
        Span<int> xc = stackalloc int[bRank + 1];
        int r = Elementwise.Coalesce(batch, sa[..bRank], sb[..bRank], sc[..bRank], dims, xa, xb, xc);
        if (r == 0)
        {
            Gemm.Sgemm(ta, tb, m, n, k, 1f, A.AsSpan(a.Offset), lda, B.AsSpan(b.Offset), ldb, 0f, C.AsSpan(c.Offset), n);
            return;
        }
        // Outer coalesced batch dims loop here; the innermost is one strided-batched call.
        int inner = dims[r - 1];
        Span<int> idx = stackalloc int[r];
        idx.Clear();
        long outer = 1;
        for (int i = 0; i < r - 1; i++) outer *= dims[i];
        long oa = a.Offset, ob = b.Offset, oc = c.Offset;
        for (long o = 0; o < outer; o++)
        {
            Gemm.SgemmStridedBatched(ta, tb, m, n, k, 1f, A.AsSpan((int)oa), lda, xa[r - 1], B.AsSpan((int)ob), ldb, xb[r - 1],
                0f, C.AsSpan((int)oc), n, xc[r - 1], inner);
            for (int i = r - 2; i >= 0; i--)
            {
                oa += xa[i]; ob += xb[i]; oc += xc[i];
                if (++idx[i] < dims[i]) break;
                oa -= (long)xa[i] * dims[i]; ob -= (long)xb[i] * dims[i]; oc -= (long)xc[i] * dims[i];
                idx[i] = 0;
            }
        }
    }

    /// <summary>Strides of t's batch dims seen through the broadcast to <paramref name="batch"/>.</summary>
    private static void BatchStrides(Tensor t, ReadOnlySpan<int> batch, Span<int> result)
    {
        int tb = t.Rank - 2;
        int lead = batch.Length - tb;
        for (int i = 0; i < batch.Length; i++)
        {
            if (i < lead) { result[i] = 0; continue; }
            int d = t.shape[i - lead];
            result[i] = d == 1 && batch[i] != 1 ? 0 : t.strides[i - lead];
        }
    }

    /// <summary>True when b does not vary over the batch and a's [batch..., m] rows are all lda apart.</summary>
    private static bool RowsFold(ReadOnlySpan<int> batch, ReadOnlySpan<int> sa, ReadOnlySpan<int> sb, int lda, int m)
    {
        bool any = false;
        for (int i = 0; i < batch.Length; i++)
        {
            if (batch[i] == 1) continue;
            any = true;
            if (sb[i] != 0) return false;
        }
        if (!any) return false;
        // Walk from the innermost batch dim outwards: each must step exactly over the rows inside it.
        long span = (long)lda * m;
        for (int i = batch.Length - 1; i >= 0; i--)
        {
            if (batch[i] == 1) continue;
            if (sa[i] != span) return false;
            span *= batch[i];
        }
        return true;
    }

    private sealed class MatMulNode(Tensor a, Tensor b) : GradNode(a, b)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            var a = Inputs[0];
            var b = Inputs[1];
            Tensor? ga = null, gb = null;
            if (a.RequiresGrad)
            {
                // dA = dC · Bᵀ (NT when b is a plain matrix), summed over batch dims a was broadcast along.
                var full = MatMulNoGrad(grad, b.Transpose(-2, -1));
                ga = SumToShape(full, a.shape);
            }
            if (b.RequiresGrad)
            {
                if (b.Rank == 2 && a.Rank > 2)
                {
                    // Shared weight: dB = A_flatᵀ · dC_flat, one TN GEMM over all batch rows.
                    int k = a.shape[^1], n = b.shape[^1];
                    var a2 = a.Reshape(-1, k);
                    var g2 = grad.Reshape(-1, n);
                    gb = MatMulNoGrad(a2.Transpose(0, 1), g2);
                }
                else gb = SumToShape(MatMulNoGrad(a.Transpose(-2, -1), grad), b.shape);
            }
            return [ga, gb];
        }
    }

    /// <summary>a @ b for rank ≥ 2 operands without recording (backward passes).</summary>
    internal static Tensor MatMulNoGrad(Tensor a, Tensor b)
    {
        var batch = MatMulBatchShape(a, b, a, b);
        var outShape = new int[batch.Length + 2];
        batch.CopyTo(outShape, 0);
        outShape[^2] = a.shape[^2];
        outShape[^1] = b.shape[^1];
        var c = Empty(outShape);
        MatMulInto(c, a, b);
        return c;
    }
}
