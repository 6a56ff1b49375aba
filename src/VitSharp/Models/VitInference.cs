using VitSharp.Autograd;
using VitSharp.Kernels;
using VitSharp.Nn;
using Attention = VitSharp.Kernels.Attention;
using LayerNorm = VitSharp.Kernels.LayerNorm;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>
/// A planned, allocation-free inference path for a <see cref="VisionTransformer"/> at up to a fixed batch size:
/// every activation buffer is allocated once, every matrix weight is packed once for the GEMM micro-kernel, and a
/// forward is a fixed sequence of kernel calls on those buffers — patch GEMM, then per block LayerNorm → qkv GEMM
/// (+bias) → fused attention reading q/k/v in place from the qkv rows and writing heads already merged → proj GEMM
/// accumulating into the residual stream (+bias) → LayerNorm → fc1 GEMM with bias+GELU in its epilogue → fc2 GEMM
/// accumulating into the residual stream. Only the pooled rows go through the final norm and the head; with token
/// pooling the last block already runs everything but its keys and values for the pooled (prefix) tokens alone.
/// Same results as <see cref="VisionTransformer.Forward"/> in eval mode up to float rounding order.
/// Hybrid models are not planned; they run the general module path (<see cref="IsPlanned"/> = false).
/// </summary>
/// <remarks>The weights are read when the plan is built (and by <see cref="Refresh"/>): change the model's
/// weights afterwards and call Refresh. The output tensor is owned by the plan and overwritten by the next
/// <see cref="Run"/>.</remarks>
public sealed class VitInference
{
    private static readonly int IdPatch = Profiler.Register("patch_embed (im2col+gemm)");
    private static readonly int IdLn = Profiler.Register("layer_norm");
    private static readonly int IdQkv = Profiler.Register("gemm qkv");
    private static readonly int IdAttn = Profiler.Register("attention (fused)");
    private static readonly int IdProj = Profiler.Register("gemm proj +residual");
    private static readonly int IdFc1 = Profiler.Register("gemm fc1 +gelu");
    private static readonly int IdFc2 = Profiler.Register("gemm fc2 +residual");
    private static readonly int IdHead = Profiler.Register("pool+norm+head");

    private readonly VisionTransformer model;
    private readonly VitConfig cfg;
    private readonly int maxBatch, tokens, dim, heads, hidden, patches, prefix, patchLen, features;
    private readonly bool consumed;

    // Packed matrix weights and copied vectors (biases, norms, tokens) in pinned arrays.
    private PackedB patchW = null!, headW = null!, headDistW = null!, preW = null!;
    private float[] patchB = [], posTokens = [], headB = [], headDistB = [], preB = [];
    private BlockWeights[] blocks = [];
    private float[] normW = [], normB = [], fcNormW = [], fcNormB = [];

    // Activations, sized for maxBatch.
    private readonly float[] im2col, x, xn, qkv, att, hid, pooled, preOut, distOut;
    private readonly Tensor output;
    private readonly Tensor?[] outputViews;

    // Token pooling reads only the prefix tokens (class, distillation) after the last block, so that block computes
    // keys and values for every token and the rest for those rows alone (compact: row s·kept + t is image s, token t).
    private readonly bool lastClsOnly;
    private readonly float[] xCls, xnCls, qCls, attCls;

    private sealed class BlockWeights
    {
        public PackedB Proj = null!, Fc1 = null!, Fc2 = null!;
        public PackedB? Qkv, Q, Kv; // Q and Kv instead of Qkv: the last block, when it runs for the prefix tokens only
        public float[] QkvB = [], ProjB = [], Fc1B = [], Fc2B = [], Ln1W = [], Ln1B = [], Ln2W = [], Ln2B = [];
        public float Ln1Eps, Ln2Eps, Scale;
        public bool TanhGelu;
    }

    /// <summary>Plans inference for batches of up to <paramref name="maxBatch"/> images.</summary>
    /// <param name="consumeWeights">Move the model's matrix weights into the plan: each Linear/patch weight of the
    /// model is emptied once packed, so only one copy is resident (for prediction/serving/benchmarks, where the
    /// plan is the model's only user). The model cannot run its own forward afterwards.</param>
    public VitInference(VisionTransformer model, int maxBatch, bool consumeWeights = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxBatch < 1) throw new VitException($"inference plan: batch must be at least 1, got {maxBatch}");
        this.model = model;
        cfg = model.Config;
        this.maxBatch = maxBatch;
        IsPlanned = !cfg.IsHybrid;
        tokens = cfg.NumTokens;
        dim = cfg.EmbedDim;
        heads = cfg.NumHeads;
        patches = cfg.NumPatches;
        prefix = cfg.NumPrefixTokens;
        hidden = model.Blocks.Count > 0 ? ((Block)model.Blocks.Items[0]).Mlp.Fc1.OutFeatures : 0;
        patchLen = cfg.InChans * cfg.PatchSize * cfg.PatchSize;
        features = model.NumFeatures;
        int outWidth = cfg.NumClasses > 0 ? cfg.NumClasses : features;
        using (TensorScope.Suspend()) output = Tensor.Zeros(maxBatch, outWidth); // owned by the plan, not a caller's scope
        outputViews = new Tensor?[maxBatch + 1];
        outputViews[maxBatch] = output;
        if (!IsPlanned)
        {
            im2col = x = xn = qkv = att = hid = pooled = preOut = distOut = [];
            xCls = xnCls = qCls = attCls = [];
            return;
        }
        long rows = (long)maxBatch * tokens;
        im2col = Pinned((long)maxBatch * patches * patchLen);
        x = Pinned(rows * dim);
        xn = Pinned(rows * dim);
        qkv = Pinned(rows * 3 * dim);
        att = Pinned(rows * dim);
        hid = Pinned(rows * Math.Max(hidden, 1));
        pooled = Pinned((long)maxBatch * dim);
        preOut = Pinned((long)maxBatch * features);
        distOut = Pinned((long)maxBatch * outWidth);
        lastClsOnly = cfg.GlobalPool == GlobalPool.Token && model.Blocks.Count > 0;
        long kept = lastClsOnly ? (long)maxBatch * prefix * dim : 0;
        xCls = Pinned(kept);
        xnCls = Pinned(kept);
        qCls = Pinned(kept);
        attCls = Pinned(kept);
        Pack(consumeWeights);
        consumed = consumeWeights;
    }

    /// <summary>False for models the plan does not cover (hybrids): <see cref="Run"/> then uses the module forward.</summary>
    public bool IsPlanned { get; }

    /// <summary>Run the module forward even when planned (for comparisons; needs the weights not consumed).</summary>
    public bool ForceGeneral { get; init; }

    /// <summary>"planned" or "general" (module forward), for reports.</summary>
    public string PathName => IsPlanned && !ForceGeneral ? "planned" : "general";

    public VisionTransformer Model => model;

    public int MaxBatch => maxBatch;

    /// <summary>Re-reads (re-packs) the model's weights after they changed (e.g. between training epochs).</summary>
    public void Refresh()
    {
        if (consumed) throw new VitException("inference plan: the model's weights were consumed by the plan; nothing to refresh from");
        if (IsPlanned) Pack(false);
    }

    /// <summary>Logits (B, classes) — or features (B, F) for a headless model — of images (B, C, H, W), B ≤ the
    /// planned batch. The returned tensor belongs to the plan and is overwritten by the next call.</summary>
    public Tensor Run(Tensor images)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.Shape[1] != cfg.InChans || images.Shape[2] != cfg.ImgHeight || images.Shape[3] != cfg.ImgWidth)
            throw new ShapeException($"inference plan: expected images (B, {cfg.InChans}, {cfg.ImgHeight}, {cfg.ImgWidth}), got {images.ShapeString}");
        int b = images.Shape[0];
        if (b < 1 || b > maxBatch) throw new ShapeException($"inference plan: batch {b} is outside 1..{maxBatch} (planned for {maxBatch})");
        var outView = outputViews[b] ??= output.Narrow(0, 0, b);
        if (!IsPlanned || ForceGeneral)
        {
            using (Graph.NoGrad())
            using (TensorScope.Begin())
            {
                bool wasTraining = model.Training;
                if (wasTraining) model.Eval();
                try { outView.CopyFrom(model.Forward(images)); }
                finally { if (wasTraining) model.Train(); }
            }
            return outView;
        }
        if (!images.IsContiguous) images = images.Contiguous();
        Forward(images.Storage.Data.AsSpan(images.Offset, images.Numel), b);
        return outView;
    }

    private void Forward(Span<float> img, int b)
    {
        int n = tokens, d = dim;
        int rows = b * n;
        var xs = x.AsSpan(0, rows * d);
        var xns = xn.AsSpan(0, rows * d);

        using (Profiler.Time(IdPatch))
        {
            int p = cfg.PatchSize;
            var g = new ConvGeometry(cfg.InChans, cfg.ImgHeight, cfg.ImgWidth, p, p, p, 0, 0, cfg.Grid.Rows, cfg.Grid.Cols);
            var cols = im2col.AsSpan(0, b * patches * patchLen);
            Conv2dKernels.Patches(img, b, g, cols, scatter: false);
            // Patch rows land in att (scratch) and are then placed after the prefix tokens with the position embedding.
            var emb = att.AsSpan(0, b * patches * d);
            Gemm.Sgemm(false, b * patches, 1f, cols, patchLen, patchW, 0f, emb, d, patchB, default(NoEpilogue));
            var pos = posTokens.AsSpan();
            for (int s = 0; s < b; s++)
            {
                var dst = xs.Slice(s * n * d, n * d);
                pos.Slice(0, prefix * d).CopyTo(dst); // prefix tokens with their position embedding already added
                System.Numerics.Tensors.TensorPrimitives.Add(emb.Slice(s * patches * d, patches * d), pos.Slice(prefix * d, patches * d), dst.Slice(prefix * d));
            }
        }

        var qkvs = qkv.AsSpan(0, rows * 3 * d);
        var atts = att.AsSpan(0, rows * d);
        int dh = d / heads;
        foreach (var w in blocks)
        {
            if (w.Kv != null)
            {
                LastBlock(b, w);
                break;
            }
            using (Profiler.Time(IdLn)) LayerNorm.Forward(xs, w.Ln1W, w.Ln1B, xns, default, default, rows, d, w.Ln1Eps);
            using (Profiler.Time(IdQkv)) Gemm.Sgemm(false, rows, 1f, xns, d, w.Qkv!, 0f, qkvs, 3 * d, w.QkvB, default(NoEpilogue));
            using (Profiler.Time(IdAttn))
            {
                unsafe
                {
                    fixed (float* pq = qkv, po = att)
                    {
                        // q, k, v are column blocks of the qkv rows (head-major inside each); o is written merged.
                        var qs = new AttentionStrides((long)n * 3 * d, dh, 3 * d);
                        var os = new AttentionStrides((long)n * d, dh, d);
                        Attention.Forward(pq, qs, pq + d, qs, pq + 2 * d, qs, po, os, null, b, heads, n, n, dh, w.Scale);
                    }
                }
            }
            ProjAndMlp(w, rows, atts, xs, xns);
        }

        using (Profiler.Time(IdHead)) Head(b);
    }

    /// <summary>The block's second half on <paramref name="count"/> rows, in place on the residual stream
    /// <paramref name="xs"/>: xs += proj(att), then xs += fc2(GELU(fc1(LN2(xs)))), with <paramref name="xns"/> as
    /// the LayerNorm output.</summary>
    private void ProjAndMlp(BlockWeights w, int count, Span<float> att, Span<float> xs, Span<float> xns)
    {
        int d = dim;
        var hids = hid.AsSpan(0, count * hidden);
        using (Profiler.Time(IdProj)) Gemm.Sgemm(false, count, 1f, att, d, w.Proj, 1f, xs, d, w.ProjB, default(NoEpilogue));
        using (Profiler.Time(IdLn)) LayerNorm.Forward(xs, w.Ln2W, w.Ln2B, xns, default, default, count, d, w.Ln2Eps);
        using (Profiler.Time(IdFc1)) Gemm.Sgemm(false, count, 1f, xns, d, w.Fc1, 0f, hids, hidden, w.Fc1B, new GeluEpilogue(w.TanhGelu));
        using (Profiler.Time(IdFc2)) Gemm.Sgemm(false, count, 1f, hids, hidden, w.Fc2, 1f, xs, d, w.Fc2B, default(NoEpilogue));
    }

    /// <summary>The last block for the prefix rows only (<see cref="lastClsOnly"/>); its output lands in xCls.</summary>
    private void LastBlock(int b, BlockWeights w)
    {
        int n = tokens, d = dim, kept = prefix, rows = b * n, rowsK = b * kept, dh = d / heads;
        var xs = x.AsSpan(0, rows * d);
        var xns = xn.AsSpan(0, rows * d);
        var xc = xCls.AsSpan(0, rowsK * d);
        var xnc = xnCls.AsSpan(0, rowsK * d);
        using (Profiler.Time(IdLn)) LayerNorm.Forward(xs, w.Ln1W, w.Ln1B, xns, default, default, rows, d, w.Ln1Eps);
        using (Profiler.Time(IdQkv))
        {
            // Keys and values of every token into columns d..3d of the qkv rows; queries of the prefix tokens only.
            Gemm.Sgemm(false, rows, 1f, xns, d, w.Kv!, 0f, qkv.AsSpan(d, rows * 3 * d - d), 3 * d, w.QkvB.Length > 0 ? w.QkvB.AsSpan(d) : default, default(NoEpilogue));
            for (int s = 0; s < b; s++)
            {
                xs.Slice(s * n * d, kept * d).CopyTo(xc.Slice(s * kept * d));
                xns.Slice(s * n * d, kept * d).CopyTo(xnc.Slice(s * kept * d));
            }
            Gemm.Sgemm(false, rowsK, 1f, xnc, d, w.Q!, 0f, qCls, d, w.QkvB.Length > 0 ? w.QkvB.AsSpan(0, d) : default, default(NoEpilogue));
        }
        using (Profiler.Time(IdAttn))
        {
            unsafe
            {
                fixed (float* pq = qkv, pc = qCls, po = attCls)
                {
                    var qs = new AttentionStrides((long)n * 3 * d, dh, 3 * d);
                    var cs = new AttentionStrides((long)kept * d, dh, d);
                    Attention.Forward(pc, cs, pq + d, qs, pq + 2 * d, qs, po, cs, null, b, heads, kept, n, dh, w.Scale);
                }
            }
        }
        ProjAndMlp(w, rowsK, attCls.AsSpan(0, rowsK * d), xc, xnc);
    }

    private void Head(int b)
    {
        var outs = output.Storage.Data.AsSpan(output.Offset, b * output.Shape[1]);
        if (cfg.Distilled)
        {
            // Eval-mode DeiT: the class-token head and the distillation-token head, averaged.
            var a = PoolAndProject(b, 0, headW, headB, outs);
            var c = PoolAndProject(b, 1, headDistW, headDistB, distOut.AsSpan(0, a.Length));
            System.Numerics.Tensors.TensorPrimitives.Add(a, c, a);
            System.Numerics.Tensors.TensorPrimitives.Multiply(a, 0.5f, a);
            return;
        }
        PoolAndProject(b, 0, cfg.NumClasses > 0 ? headW : null, headB, outs);
    }

    /// <summary>Pools token <paramref name="tokenIndex"/> (or the patch mean), applies the final norm/fc_norm, the
    /// pre-logits layer and the given head (none: copy the features) into <paramref name="dst"/>.</summary>
    private Span<float> PoolAndProject(int b, int tokenIndex, PackedB? head, float[] headBias, Span<float> dst)
    {
        int n = tokens, d = dim;
        var xs = x.AsSpan(0, b * n * d);
        var pool = pooled.AsSpan(0, b * d);
        if (cfg.GlobalPool == GlobalPool.Avg)
        {
            var src = xs;
            if (normW.Length > 0)
            {
                // Final norm on every token before the mean (no fc_norm).
                var xns = xn.AsSpan(0, b * n * d);
                LayerNorm.Forward(xs, normW, normB, xns, default, default, b * n, d, cfg.LayerNormEps);
                src = xns;
            }
            for (int s = 0; s < b; s++)
            {
                var acc = pool.Slice(s * d, d);
                acc.Clear();
                for (int t = prefix; t < n; t++) System.Numerics.Tensors.TensorPrimitives.Add(acc, src.Slice((s * n + t) * d, d), acc);
                System.Numerics.Tensors.TensorPrimitives.Multiply(acc, 1f / (n - prefix), acc);
            }
        }
        else
        {
            // Only the pooled token's row needs the final norm (it is per-token).
            if (lastClsOnly) for (int s = 0; s < b; s++) xCls.AsSpan((s * prefix + tokenIndex) * d, d).CopyTo(pool.Slice(s * d, d));
            else for (int s = 0; s < b; s++) xs.Slice((s * n + tokenIndex) * d, d).CopyTo(pool.Slice(s * d, d));
            if (normW.Length > 0) LayerNorm.Forward(pool, normW, normB, pool, default, default, b, d, cfg.LayerNormEps);
        }
        if (fcNormW.Length > 0) LayerNorm.Forward(pool, fcNormW, fcNormB, pool, default, default, b, d, cfg.LayerNormEps);
        Span<float> feat = pool;
        if (cfg.RepresentationSize is int rep)
        {
            var pre = preOut.AsSpan(0, b * rep);
            Gemm.Sgemm(false, b, 1f, pool, d, preW, 0f, pre, rep, preB, default(NoEpilogue));
            Activations.Tanh(pre, pre);
            feat = pre;
        }
        if (head == null)
        {
            feat.CopyTo(dst);
            return dst.Slice(0, b * features);
        }
        var o = dst.Slice(0, b * head.N);
        Gemm.Sgemm(false, b, 1f, feat, features, head, 0f, o, head.N, headBias, default(NoEpilogue));
        return o;
    }

    // ------------------------------------------------------------------ packing

    private void Pack(bool consume)
    {
        var m = model;
        int d = dim;
        // Patch embedding: conv weight (D, C, P, P) is a (D, C·P·P) matrix in nn.Linear layout.
        var proj = m.PatchEmbed.Proj;
        patchW = PackLinear(proj.Weight, d, patchLen, consume);
        patchB = proj.Bias != null ? Copy(proj.Bias.Value) : [];

        // Prefix tokens and position embedding folded into one (tokens, D) table.
        posTokens = Pinned((long)tokens * d);
        var pt = posTokens.AsSpan();
        if (m.PosEmbed != null) m.PosEmbed.Value.Contiguous().AsSpan().CopyTo(pt);
        else if (m.SincosPosEmbed != null) m.SincosPosEmbed.Contiguous().AsSpan().CopyTo(pt);
        else pt.Clear();
        int k = 0;
        if (m.ClsToken != null) { Accumulate(m.ClsToken.Value, pt.Slice(k * d, d)); k++; }
        if (m.DistToken != null) { Accumulate(m.DistToken.Value, pt.Slice(k * d, d)); k++; }

        var list = new BlockWeights[m.Blocks.Count];
        for (int i = 0; i < list.Length; i++)
        {
            var blk = (Block)m.Blocks.Items[i];
            bool split = lastClsOnly && i == list.Length - 1;
            list[i] = new BlockWeights
            {
                Ln1W = Copy(blk.Norm1.Weight.Value),
                Ln1B = Copy(blk.Norm1.Bias.Value),
                Ln1Eps = blk.Norm1.Eps,
                Ln2W = Copy(blk.Norm2.Weight.Value),
                Ln2B = Copy(blk.Norm2.Bias.Value),
                Ln2Eps = blk.Norm2.Eps,
                Qkv = split ? null : PackLinear(blk.Attn.Qkv.Weight, 3 * d, d, consume),
                Q = split ? PackLinear(blk.Attn.Qkv.Weight, 3 * d, d, false, 0, d) : null,
                Kv = split ? PackLinear(blk.Attn.Qkv.Weight, 3 * d, d, consume, d, 2 * d) : null,
                QkvB = blk.Attn.Qkv.Bias != null ? Copy(blk.Attn.Qkv.Bias.Value) : [],
                Proj = PackLinear(blk.Attn.Proj.Weight, d, d, consume),
                ProjB = blk.Attn.Proj.Bias != null ? Copy(blk.Attn.Proj.Bias.Value) : [],
                Fc1 = PackLinear(blk.Mlp.Fc1.Weight, hidden, d, consume),
                Fc1B = blk.Mlp.Fc1.Bias != null ? Copy(blk.Mlp.Fc1.Bias.Value) : [],
                Fc2 = PackLinear(blk.Mlp.Fc2.Weight, d, hidden, consume),
                Fc2B = blk.Mlp.Fc2.Bias != null ? Copy(blk.Mlp.Fc2.Bias.Value) : [],
                Scale = blk.Attn.Scale,
                TanhGelu = blk.Mlp.TanhGelu,
            };
            if (consume && i % 4 == 3) GC.Collect(); // let the emptied weights go before more packed ones arrive
        }
        blocks = list;
        (normW, normB) = m.Norm is Nn.LayerNorm ln ? (Copy(ln.Weight.Value), Copy(ln.Bias.Value)) : ([], []);
        (fcNormW, fcNormB) = m.FcNorm is Nn.LayerNorm fn ? (Copy(fn.Weight.Value), Copy(fn.Bias.Value)) : ([], []);
        if (m.PreLogits != null)
        {
            preW = PackLinear(m.PreLogits.Fc.Weight, m.PreLogits.Fc.OutFeatures, d, consume);
            preB = Copy(m.PreLogits.Fc.Bias!.Value);
        }
        if (m.Head is Linear h)
        {
            headW = PackLinear(h.Weight, h.OutFeatures, h.InFeatures, consume);
            headB = h.Bias != null ? Copy(h.Bias.Value) : [];
        }
        if (m.HeadDist is Linear hd)
        {
            headDistW = PackLinear(hd.Weight, hd.OutFeatures, hd.InFeatures, consume);
            headDistB = hd.Bias != null ? Copy(hd.Bias.Value) : [];
        }
        if (consume) GC.Collect();
    }

    /// <summary>Packs output rows [row0, row0 + count) of an outF×inF nn.Linear weight (all of them by default).</summary>
    private static PackedB PackLinear(Parameter w, int outF, int inF, bool consume, int row0 = 0, int count = -1)
    {
        var t = w.Value.Contiguous();
        if (t.Numel != (long)outF * inF)
            throw new ShapeException($"inference plan: weight {t.ShapeString} is not {outF}×{inF}{(t.Numel == 0 ? " (consumed by an earlier plan?)" : "")}");
        if (count < 0) count = outF;
        var packed = Gemm.PackB(true, inF, count, t.AsSpan().Slice(row0 * inF, count * inF), inF);
        if (consume) w.Value = Tensor.Empty(0);
        return packed;
    }

    private static void Accumulate(Tensor token, Span<float> dst) =>
        System.Numerics.Tensors.TensorPrimitives.Add(dst, token.Contiguous().AsSpan(), dst);

    private static float[] Copy(Tensor t)
    {
        var a = Pinned(t.Numel);
        t.Contiguous().AsSpan().CopyTo(a);
        return a;
    }

    private static float[] Pinned(long n) => n == 0 ? [] : GC.AllocateUninitializedArray<float>(checked((int)n), pinned: true);
}
