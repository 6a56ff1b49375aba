using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Fused scaled-dot-product attention (FlashAttention-style kernel) and explicit attention probabilities.</summary>
internal static unsafe class NnAttention
{
    private static void Check(Tensor q, Tensor k, Tensor? v, string op)
    {
        if (q.Rank != 4 || k.Rank != 4 || (v != null && v.Rank != 4))
            throw new ShapeException($"{op}: q {q.ShapeString}, k {k.ShapeString}{(v != null ? $", v {v.ShapeString}" : "")} must all be (B, H, N, Dh)");
        if (q.Shape[0] != k.Shape[0] || q.Shape[1] != k.Shape[1] || q.Shape[3] != k.Shape[3])
            throw new ShapeException($"{op}: q {q.ShapeString} and k {k.ShapeString} differ in batch, heads or head size");
        if (v != null && (v.Shape[0] != k.Shape[0] || v.Shape[1] != k.Shape[1] || v.Shape[2] != k.Shape[2] || v.Shape[3] != q.Shape[3]))
            throw new ShapeException($"{op}: v {v.ShapeString} does not match k {k.ShapeString} / q {q.ShapeString}");
    }

    /// <summary>Dense along Dh (unit stride on the last dim), any strides elsewhere.</summary>
    private static Tensor UnitLast(Tensor t) => t.Strides[3] == 1 || t.Shape[3] == 1 ? t : t.Clone0();

    private static AttentionStrides StridesOf(Tensor t) => new(t.Strides[0], t.Strides[1], t.Strides[2]);

    public static Tensor Forward(Tensor q, Tensor k, Tensor v, float scale, float dropoutP, Rng? rng)
    {
        Check(q, k, v, "scaled_dot_product_attention");
        if (!(dropoutP >= 0 && dropoutP < 1)) throw new ArgumentOutOfRangeException(nameof(dropoutP), $"attention dropout {dropoutP} is outside [0, 1)");
        int b = q.Shape[0], h = q.Shape[1], nq = q.Shape[2], nk = k.Shape[2], dh = q.Shape[3];
        var qd = UnitLast(q);
        var kd = UnitLast(k);
        var vd = UnitLast(v);
        // (B, H, N, Dh) stored as (B, N, H, Dh): merging heads afterwards is a free view.
        var o = new Tensor(Storage.Allocate(b * nq * h * dh, clear: nk == 0), [b, h, nq, dh], [nq * h * dh, dh, h * dh, 1]);
        bool grad = Graph.NeedsGrad(q, k, v);
        var lse = grad ? Tensor.Empty(b * h * nq) : null;
        ulong seed = dropoutP > 0 ? NnDropout.NextSeed(rng) : 0;
        if (nk > 0)
        {
            fixed (float* pq = qd.Storage.Data, pk = kd.Storage.Data, pv = vd.Storage.Data, po = o.Storage.Data)
            fixed (float* pl = lse == null ? null : lse.Storage.Data)
            {
                Attention.Forward(pq + qd.Offset, StridesOf(qd), pk + kd.Offset, StridesOf(kd), pv + vd.Offset, StridesOf(vd),
                    po, StridesOf(o), pl, b, h, nq, nk, dh, scale, dropoutP, seed);
            }
        }
        if (grad) Graph.Record(o, new SdpaNode(q, k, v, qd, kd, vd, o.Detach(), lse!, scale, dropoutP, seed));
        return o;
    }

    private sealed class SdpaNode(Tensor q, Tensor k, Tensor v, Tensor qd, Tensor kd, Tensor vd, Tensor o, Tensor lse, float scale, float p, ulong seed)
        : GradNode(q, k, v)
    {
        private Tensor? qd = qd, kd = kd, vd = vd, o = o, lse = lse;
        public override string Name => "ScaledDotProductAttention";

        public override Tensor?[] Backward(Tensor grad)
        {
            var g = UnitLast(grad);
            int b = qd!.Shape[0], h = qd.Shape[1], nq = qd.Shape[2], nk = kd!.Shape[2], dh = qd.Shape[3];
            var dq = Tensor.Empty(b, h, nq, dh); // the kernel overwrites dq, dk and dv
            var dk = Tensor.Empty(b, h, nk, dh);
            var dv = Tensor.Empty(b, h, nk, dh);
            if (nk == 0) dq.Fill_(0); // no keys: the output was all zeros
            if (nk > 0)
            {
                fixed (float* pq = qd.Storage.Data, pk = kd.Storage.Data, pv = vd!.Storage.Data, po = o!.Storage.Data, pl = lse!.Storage.Data, pg = g.Storage.Data)
                fixed (float* pdq = dq.Storage.Data, pdk = dk.Storage.Data, pdv = dv.Storage.Data)
                {
                    Attention.Backward(pq + qd.Offset, StridesOf(qd), pk + kd.Offset, StridesOf(kd), pv + vd.Offset, StridesOf(vd),
                        po + o.Offset, StridesOf(o), pl + lse.Offset, pg + g.Offset, StridesOf(g), pdq, pdk, pdv, b, h, nq, nk, dh, scale, p, seed);
                }
            }
            return [Inputs[0].RequiresGrad ? dq : null, Inputs[1].RequiresGrad ? dk : null, Inputs[2].RequiresGrad ? dv : null];
        }

        public override void Release() { qd = kd = vd = o = lse = null; }
    }

    public static Tensor Probs(Tensor q, Tensor k, float scale)
    {
        Check(q, k, null, "attention_probs");
        int b = q.Shape[0], h = q.Shape[1], nq = q.Shape[2], nk = k.Shape[2], dh = q.Shape[3];
        var qd = UnitLast(q);
        var kd = UnitLast(k);
        var p = Tensor.Empty(b, h, nq, nk);
        var ps = p.AsSpan();
        for (int i = 0; i < b; i++)
        {
            for (int j = 0; j < h; j++)
            {
                var c = ps.Slice((i * h + j) * nq * nk, nq * nk);
                if (dh == 0) { c.Clear(); continue; }
                Gemm.Sgemm(false, true, nq, nk, dh, scale, Head(qd, i, j), (int)qd.Strides[2], Head(kd, i, j), (int)kd.Strides[2], 0f, c, nk);
            }
        }
        Kernels.Softmax.Forward(ps, ps, b * h * nq, nk, 1, log: false);
        if (Graph.NeedsGrad(q, k)) Graph.Record(p, new ProbsNode(q, k, qd, kd, p.Detach(), scale));
        return p;
    }

    /// <summary>The span from head (i, j)'s first element to the end of the storage (GEMM reads it with row strides).</summary>
    private static ReadOnlySpan<float> Head(Tensor t, int i, int j) =>
        t.Storage.Data.AsSpan(t.Offset + i * t.Strides[0] + j * t.Strides[1]);

    private sealed class ProbsNode(Tensor q, Tensor k, Tensor qd, Tensor kd, Tensor p, float scale) : GradNode(q, k)
    {
        private Tensor? qd = qd, kd = kd, p = p;
        public override string Name => "AttentionProbs";

        public override Tensor?[] Backward(Tensor grad)
        {
            int b = qd!.Shape[0], h = qd.Shape[1], nq = qd.Shape[2], nk = kd!.Shape[2], dh = qd.Shape[3];
            var g = NnUtil.Dense(grad);
            var ds = Tensor.Empty(b, h, nq, nk);
            Kernels.Softmax.Backward(p!.AsSpan(), NnUtil.Span(g), ds.AsSpan(), b * h * nq, nk, 1, log: false);
            var dq = Tensor.Empty(b, h, nq, dh);
            var dk = Tensor.Empty(b, h, nk, dh);
            var dss = ds.AsSpan();
            for (int i = 0; i < b; i++)
            {
                for (int j = 0; j < h; j++)
                {
                    int bh = i * h + j;
                    var s = dss.Slice(bh * nq * nk, nq * nk);
                    var dqs = dq.AsSpan().Slice(bh * nq * dh, nq * dh);
                    var dks = dk.AsSpan().Slice(bh * nk * dh, nk * dh);
                    if (nk == 0) dqs.Clear();
                    else Gemm.Sgemm(false, false, nq, dh, nk, scale, s, nk, Head(kd, i, j), (int)kd.Strides[2], 0f, dqs, dh);
                    if (nq == 0) dks.Clear();
                    else Gemm.Sgemm(true, false, nk, dh, nq, scale, s, nk, Head(qd, i, j), (int)qd.Strides[2], 0f, dks, dh);
                }
            }
            return [dq, dk];
        }

        public override void Release() { qd = kd = p = null; }
    }
}
