using VitSharp.Autograd;
using VitSharp.Kernels;
using VitSharp.Nn;
using VitSharp.Tensors;
using Attention = VitSharp.Kernels.Attention;
using LayerNorm = VitSharp.Kernels.LayerNorm;

namespace VitSharp.Models;

/// <summary>
/// One training step's forward and backward for a <see cref="VisionTransformer"/>: cross-entropy against hard
/// labels (optional label smoothing) or soft targets (mixup/cutmix), gradients written into every trainable
/// parameter's <see cref="Tensor.Grad"/> (overwriting), mean loss returned; the optimiser step is the caller's.
/// <para>The planned path (llm.c style) allocates every activation, saved tensor and gradient once for the
/// maximum batch and runs an explicit forward and a hand-written backward over them: fused bias / GELU /
/// residual epilogues in the GEMMs, GELU' fused into the dGELU GEMM, attention forward and backward through the
/// fused kernel reading q/k/v straight from the qkv rows and writing dq/dk/dv straight into dqkv, weight
/// gradients as one long-K GEMM each, and nothing computed for frozen parameters. With token pooling the last
/// block runs its query, attention output, proj and MLP for the class token alone (the loss reads nothing else). A steady-state step allocates
/// no managed memory. Models it does not cover — hybrids, distillation tokens, any dropout or drop-path — use the
/// general autograd path (<see cref="IsPlanned"/> = false), which gives the same gradients.</para>
/// </summary>
public sealed unsafe class VitTrainStep
{
    private static readonly int IdPatch = Profiler.Register("patch_embed (im2col+gemm)");
    private static readonly int IdLn = Profiler.Register("layer_norm");
    private static readonly int IdQkv = Profiler.Register("gemm qkv");
    private static readonly int IdAttn = Profiler.Register("attention (fused)");
    private static readonly int IdProj = Profiler.Register("gemm proj +residual");
    private static readonly int IdFc1 = Profiler.Register("gemm fc1 +gelu");
    private static readonly int IdFc2 = Profiler.Register("gemm fc2 +residual");
    private static readonly int IdHeadFwd = Profiler.Register("pool+norm+head");
    private static readonly int IdBwdFc2 = Profiler.Register("bwd gemm fc2 (dW+db, dX +gelu')");
    private static readonly int IdBwdFc1 = Profiler.Register("bwd gemm fc1 (dW+db, dX)");
    private static readonly int IdBwdProj = Profiler.Register("bwd gemm proj (dW+db, dX)");
    private static readonly int IdBwdQkv = Profiler.Register("bwd gemm qkv (dW+db, dX)");
    private static readonly int IdBwdAttn = Profiler.Register("bwd attention (fused)");
    private static readonly int IdBwdLn = Profiler.Register("bwd layer_norm +residual");
    private static readonly int IdBwdEmb = Profiler.Register("bwd patch_embed/pos/cls");
    private static readonly int IdLoss = Profiler.Register("loss + head backward");

    private readonly VisionTransformer model;
    private readonly VitConfig cfg;
    private readonly List<Tensor> allParams;
    private readonly int maxBatch, n, d, heads, dh, hidden, np, prefix, patchLen, classes, features, depth;

    // Saved activations (per layer) and working buffers, all for maxBatch.
    private readonly float[] cols, emb;
    private readonly float[][] xs, xmid, xn1, xn2, mean1, rstd1, mean2, rstd2, qkv, att, lse, hpre, hact; // hpre holds GELU'(fc1 pre-activation), all the backward needs of it
    private readonly float[][] probs; // per layer: the attention probabilities saved by the forward (empty: recomputed)

    /// <summary>Saved attention probabilities above this many bytes (all layers) are recomputed in the backward
    /// instead. VIT_ATTN_SAVE_MB overrides (0 = always recompute).</summary>
    private static readonly long SaveProbsBudget = (long.TryParse(Environment.GetEnvironmentVariable("VIT_ATTN_SAVE_MB"), out var mb) ? Math.Max(0, mb) : 1024) << 20;
    private readonly float[] pooledRaw, pooledN, meanN, rstdN, pooledF, meanF, rstdF, preAct, logits, dlogits, rowLoss;
    private readonly float[] xnFinal, meanFinal, rstdFinal;
    private readonly float[] dx, dtmp, dxn, datt, dqkv, dh1, dfeat, dpre, dpool, dpoolN;

    /// <summary>Token pooling reads only the class token after the last block, so that block computes keys and
    /// values for every token but the query, attention output, proj, LayerNorm and MLP for the class token alone:
    /// an exact shortcut (no other output of the block reaches the loss) that spares most of a block's work.</summary>
    private readonly bool lastClsOnly;
    private readonly float[] xn1Cls, qCls, dqCls, dxCls; // the last block's class-token rows (one per image)
    private readonly Tensor logitsTensor;
    private readonly Tensor?[] logitsViews;

    private readonly Dictionary<Tensor, Tensor> grads = new(ReferenceEqualityComparer.Instance);

    public VitTrainStep(VisionTransformer model, int maxBatch, bool general = false)
    {
        ArgumentNullException.ThrowIfNull(model);
        if (maxBatch < 1) throw new VitException($"training plan: batch must be at least 1, got {maxBatch}");
        this.model = model;
        cfg = model.Config;
        this.maxBatch = maxBatch;
        allParams = [.. model.NamedParameters().Select(p => p.Param)];
        IsPlanned = !general && Supported(cfg);
        n = cfg.NumTokens;
        d = cfg.EmbedDim;
        heads = cfg.NumHeads;
        dh = d / heads;
        depth = model.Blocks.Count;
        hidden = depth > 0 ? ((Block)model.Blocks.Items[0]).Mlp.Fc1.OutFeatures : 0;
        np = cfg.NumPatches;
        prefix = cfg.NumPrefixTokens;
        patchLen = cfg.InChans * cfg.PatchSize * cfg.PatchSize;
        classes = cfg.NumClasses;
        features = model.NumFeatures;
        using var _ = TensorScope.Suspend(); // everything below is owned by the plan
        logitsTensor = Tensor.Zeros(maxBatch, Math.Max(classes, 1));
        logitsViews = new Tensor?[maxBatch + 1];
        logitsViews[maxBatch] = logitsTensor;
        if (!IsPlanned)
        {
            cols = emb = pooledRaw = pooledN = meanN = rstdN = pooledF = meanF = rstdF = preAct = logits = dlogits = rowLoss = [];
            xnFinal = meanFinal = rstdFinal = dx = dtmp = dxn = datt = dqkv = dh1 = dfeat = dpre = dpool = dpoolN = [];
            xn1Cls = qCls = dqCls = dxCls = [];
            xs = xmid = xn1 = xn2 = mean1 = rstd1 = mean2 = rstd2 = qkv = att = lse = hpre = hact = probs = [];
            return;
        }
        long r = (long)maxBatch * n;
        cols = P((long)maxBatch * np * patchLen);
        emb = P((long)maxBatch * np * d);
        xs = Layers(depth + 1, r * d);
        xmid = Layers(depth, r * d);
        xn1 = Layers(depth, r * d);
        xn2 = Layers(depth, r * d);
        mean1 = Layers(depth, r);
        rstd1 = Layers(depth, r);
        mean2 = Layers(depth, r);
        rstd2 = Layers(depth, r);
        qkv = Layers(depth, r * 3 * d);
        att = Layers(depth, r * d);
        lse = Layers(depth, (long)maxBatch * heads * n);
        hpre = Layers(depth, r * hidden);
        hact = Layers(depth, r * hidden);
        // Saving the probabilities spares the backward a fifth of its attention products (S = q·kᵀ) and all its
        // exponentials, for a write and a read of nq·nk floats per head: a net gain when each saved float stands for
        // enough multiply-adds (ViT-Tiny, head dim 64: training step −2.6 %; MNIST-ViT, head dim 32: +0.7 %).
        long probLen = Attention.ProbabilitiesLength(maxBatch, heads, n, n);
        bool saveProbs = dh >= 64 && probLen * depth * sizeof(float) <= SaveProbsBudget;
        probs = Layers(depth, saveProbs ? probLen : 0);
        bool avgNorm = cfg.GlobalPool == GlobalPool.Avg && model.Norm is Nn.LayerNorm;
        xnFinal = avgNorm ? P(r * d) : [];
        meanFinal = avgNorm ? P(r) : [];
        rstdFinal = avgNorm ? P(r) : [];
        pooledRaw = P((long)maxBatch * d);
        pooledN = P((long)maxBatch * d);
        meanN = P(maxBatch);
        rstdN = P(maxBatch);
        pooledF = P((long)maxBatch * d);
        meanF = P(maxBatch);
        rstdF = P(maxBatch);
        preAct = P((long)maxBatch * features);
        logits = logitsTensor.Storage.Data;
        dlogits = P((long)maxBatch * Math.Max(classes, 1));
        rowLoss = P(maxBatch);
        dx = P(r * d);
        dtmp = P(r * d);
        dxn = P(r * d);
        datt = P(r * d);
        dqkv = P(r * 3 * d);
        dh1 = P(r * hidden);
        dfeat = P((long)maxBatch * features);
        dpre = P((long)maxBatch * features);
        dpool = P((long)maxBatch * d);
        dpoolN = P((long)maxBatch * d);
        lastClsOnly = cfg.GlobalPool == GlobalPool.Token && depth > 0;
        xn1Cls = P(lastClsOnly ? (long)maxBatch * d : 0);
        qCls = P(lastClsOnly ? (long)maxBatch * d : 0);
        dqCls = P(lastClsOnly ? (long)maxBatch * d : 0);
        dxCls = P(lastClsOnly ? (long)maxBatch * d : 0);
        foreach (var p in allParams) grads[p] = Tensor.Zeros(p.Shape);
    }

    /// <summary>Whether the planned path covers a configuration (else the general autograd path runs).</summary>
    public static bool Supported(VitConfig c) =>
        !c.IsHybrid && !c.Distilled && c.NumClasses > 0 && c.DropRate == 0 && c.AttnDropRate == 0 && c.DropPathRate == 0 && c.HeadDropRate == 0;

    public bool IsPlanned { get; }

    public int MaxBatch => maxBatch;

    /// <summary>"planned" or "general" (autograd over the module tree), for reports.</summary>
    public string PathName => IsPlanned ? "planned" : "general";

    /// <summary>Logits of the last step (B, classes); owned by the plan, overwritten by the next step.</summary>
    public Tensor Logits { get; private set; } = null!;

    /// <summary>Forward + cross-entropy against hard labels + backward; returns the mean loss.</summary>
    public float ForwardBackward(Tensor images, int[] labels, float labelSmoothing = 0)
    {
        ArgumentNullException.ThrowIfNull(labels);
        return Step(images, labels, null, labelSmoothing);
    }

    /// <summary>Forward + cross-entropy against soft targets (B, classes) + backward; returns the mean loss.</summary>
    public float ForwardBackward(Tensor images, Tensor softTargets)
    {
        ArgumentNullException.ThrowIfNull(softTargets);
        return Step(images, null, softTargets, 0);
    }

    private float Step(Tensor images, int[]? labels, Tensor? soft, float smoothing)
    {
        ArgumentNullException.ThrowIfNull(images);
        if (images.Rank != 4 || images.Shape[1] != cfg.InChans || images.Shape[2] != cfg.ImgHeight || images.Shape[3] != cfg.ImgWidth)
            throw new ShapeException($"training step: expected images (B, {cfg.InChans}, {cfg.ImgHeight}, {cfg.ImgWidth}), got {images.ShapeString}");
        int b = images.Shape[0];
        if (b < 1 || b > maxBatch) throw new ShapeException($"training step: batch {b} is outside 1..{maxBatch} (planned for {maxBatch})");
        if (labels != null && labels.Length != b) throw new ShapeException($"training step: {labels.Length} labels for {b} images");
        if (soft != null && (soft.Rank != 2 || soft.Shape[0] != b || soft.Shape[1] != classes))
            throw new ShapeException($"training step: soft targets {soft.ShapeString}, expected ({b}, {classes})");
        if (labels != null)
            foreach (int l in labels)
                if ((uint)l >= (uint)classes) throw new VitException($"training step: label {l} is outside 0..{classes - 1}");
        if (!IsPlanned) return GeneralStep(images, labels, soft, smoothing);

        if (!images.IsContiguous) images = images.Contiguous();
        Logits = logitsViews[b] ??= logitsTensor.Narrow(0, 0, b);
        Forward(images.Storage.Data.AsSpan(images.Offset, images.Numel), b);
        float loss;
        using (Profiler.Time(IdLoss))
        {
            var targets = soft?.Contiguous();
            loss = Loss(b, labels, targets, smoothing);
            HeadBackward(b);
        }
        Backward(b);
        foreach (var p in allParams) p.Grad = p.RequiresGrad ? grads[p] : null;
        return loss;
    }

    private float GeneralStep(Tensor images, int[]? labels, Tensor? soft, float smoothing)
    {
        foreach (var p in allParams) p.Grad = null;
        using (TensorScope.Begin())
        {
            var y = model.Forward(images);
            var loss = soft != null ? F.CrossEntropy(y, soft) : F.CrossEntropy(y, labels!, smoothing);
            float v = loss.Item();
            loss.Backward();
            using (TensorScope.Suspend())
            {
                if (Logits == null || Logits.Shape[0] != y.Shape[0]) Logits = Tensor.Zeros(y.Shape);
            }
            Logits.CopyFrom(y.Detach());
            return v;
        }
    }

    // ------------------------------------------------------------------ forward

    private void Forward(Span<float> img, int b)
    {
        int rows = b * n;
        var m = model;
        var patchTimer = Profiler.Time(IdPatch);
        var g = new ConvGeometry(cfg.InChans, cfg.ImgHeight, cfg.ImgWidth, cfg.PatchSize, cfg.PatchSize, cfg.PatchSize, 0, 0, cfg.Grid.Rows, cfg.Grid.Cols);
        Conv2dKernels.Patches(img, b, g, cols.AsSpan(0, b * np * patchLen), scatter: false);
        var proj = m.PatchEmbed.Proj;
        Gemm.Sgemm(false, true, b * np, d, patchLen, 1f, cols, patchLen, W(proj.Weight), patchLen, 0f, emb, d, V(proj.Bias), default(NoEpilogue));
        var x0 = xs[0].AsSpan(0, rows * d);
        var pos = m.PosEmbed != null ? m.PosEmbed.Value.AsSpan() : m.SincosPosEmbed != null ? m.SincosPosEmbed.AsSpan() : default;
        for (int s = 0; s < b; s++)
        {
            var dst = x0.Slice(s * n * d, n * d);
            if (m.ClsToken != null) m.ClsToken.Value.AsSpan().CopyTo(dst);
            emb.AsSpan(s * np * d, np * d).CopyTo(dst.Slice(prefix * d));
            if (!pos.IsEmpty) System.Numerics.Tensors.TensorPrimitives.Add(dst, pos, dst);
        }
        patchTimer.Dispose();

        for (int l = 0; l < depth; l++)
        {
            var blk = (Block)m.Blocks.Items[l];
            if (lastClsOnly && l == depth - 1)
            {
                LastBlockForward(b, blk);
                break;
            }
            using (Profiler.Time(IdLn))
                LayerNorm.Forward(xs[l].AsSpan(0, rows * d), V(blk.Norm1.Weight), V(blk.Norm1.Bias), xn1[l], mean1[l], rstd1[l], rows, d, blk.Norm1.Eps);
            using (Profiler.Time(IdQkv))
                Gemm.Sgemm(false, true, rows, 3 * d, d, 1f, xn1[l], d, W(blk.Attn.Qkv.Weight), d, 0f, qkv[l], 3 * d, V(blk.Attn.Qkv.Bias), default(NoEpilogue));
            using (Profiler.Time(IdAttn))
            {
                fixed (float* pq = qkv[l], po = att[l], pl = lse[l], pp = probs[l])
                    Attention.Forward(pq, QkvStrides, pq + d, QkvStrides, pq + 2 * d, QkvStrides, po, MergedStrides, pl, b, heads, n, n, dh, blk.Attn.Scale, probs: pp);
            }
            ProjAndMlpForward(blk, l, rows, d, xs[l + 1]);
        }
        using (Profiler.Time(IdHeadFwd)) HeadForward(b);
    }

    /// <summary>
    /// The block's second half on <paramref name="count"/> rows of att[l]: xmid = x + proj(att), then
    /// out = xmid + fc2(GELU(fc1(LN2(xmid)))). Row r's residual x starts at xs[l] + r·<paramref name="residualStride"/>
    /// (d: every row; n·d: each image's class-token row, for the last block).
    /// </summary>
    private void ProjAndMlpForward(Block blk, int l, int count, int residualStride, float[] output)
    {
        using (Profiler.Time(IdProj))
        {
            fixed (float* res = xs[l])
                Gemm.Sgemm(false, true, count, d, d, 1f, att[l], d, W(blk.Attn.Proj.Weight), d, 0f, xmid[l], d, V(blk.Attn.Proj.Bias), new ResidualEpilogue(res, residualStride));
        }
        using (Profiler.Time(IdLn))
            LayerNorm.Forward(xmid[l].AsSpan(0, count * d), V(blk.Norm2.Weight), V(blk.Norm2.Bias), xn2[l], mean2[l], rstd2[l], count, d, blk.Norm2.Eps);
        using (Profiler.Time(IdFc1))
        {
            fixed (float* ph = hact[l])
                Gemm.Sgemm(false, true, count, hidden, d, 1f, xn2[l], d, W(blk.Mlp.Fc1.Weight), d, 0f, hpre[l], hidden, V(blk.Mlp.Fc1.Bias), new GeluAndGradEpilogue(ph, hidden, blk.Mlp.TanhGelu));
        }
        using (Profiler.Time(IdFc2))
        {
            fixed (float* res = xmid[l])
                Gemm.Sgemm(false, true, count, d, hidden, 1f, hact[l], hidden, W(blk.Mlp.Fc2.Weight), hidden, 0f, output, d, V(blk.Mlp.Fc2.Bias), new ResidualEpilogue(res, d));
        }
    }

    /// <summary>The last block when only the class token's output is used (<see cref="lastClsOnly"/>): keys and
    /// values for all rows, everything else on one row per image; its outputs are compact (row s = image s).</summary>
    private void LastBlockForward(int b, Block blk)
    {
        int l = depth - 1, rows = b * n;
        var qkvW = W(blk.Attn.Qkv.Weight);
        var qkvB = V(blk.Attn.Qkv.Bias);
        using (Profiler.Time(IdLn))
            LayerNorm.Forward(xs[l].AsSpan(0, rows * d), V(blk.Norm1.Weight), V(blk.Norm1.Bias), xn1[l], mean1[l], rstd1[l], rows, d, blk.Norm1.Eps);
        using (Profiler.Time(IdQkv))
        {
            // Keys and values of every token (columns d..3d of the qkv rows), the query of the class token only.
            Gemm.Sgemm(false, true, rows, 2 * d, d, 1f, xn1[l], d, qkvW[(d * d)..], d, 0f, qkv[l].AsSpan(d), 3 * d,
                qkvB.IsEmpty ? default : qkvB[d..], default(NoEpilogue));
            for (int s = 0; s < b; s++) xn1[l].AsSpan(s * n * d, d).CopyTo(xn1Cls.AsSpan(s * d, d));
            Gemm.Sgemm(false, true, b, d, d, 1f, xn1Cls, d, qkvW[..(d * d)], d, 0f, qCls, d, qkvB.IsEmpty ? default : qkvB[..d], default(NoEpilogue));
        }
        using (Profiler.Time(IdAttn))
        {
            fixed (float* pq = qkv[l], pc = qCls, po = att[l], pl = lse[l], pp = probs[l])
                Attention.Forward(pc, ClsStrides, pq + d, QkvStrides, pq + 2 * d, QkvStrides, po, ClsStrides, pl, b, heads, 1, n, dh, blk.Attn.Scale, probs: pp);
        }
        ProjAndMlpForward(blk, l, b, n * d, xs[depth]); // the residual is each image's class-token row
    }

    private AttentionStrides ClsStrides => new(d, dh, d);
    private AttentionStrides QkvStrides => new((long)n * 3 * d, dh, 3 * d);
    private AttentionStrides MergedStrides => new((long)n * d, dh, d);

    private void HeadForward(int b)
    {
        var m = model;
        var xl = xs[depth].AsSpan(0, b * n * d);
        var pooled = pooledRaw.AsSpan(0, b * d);
        var normLn = m.Norm as Nn.LayerNorm;
        if (cfg.GlobalPool == GlobalPool.Avg)
        {
            var src = xl;
            if (normLn != null)
            {
                LayerNorm.Forward(xl, V(normLn.Weight), V(normLn.Bias), xnFinal, meanFinal, rstdFinal, b * n, d, normLn.Eps);
                src = xnFinal.AsSpan(0, b * n * d);
            }
            for (int s = 0; s < b; s++)
            {
                var acc = pooled.Slice(s * d, d);
                acc.Clear();
                for (int t = prefix; t < n; t++) System.Numerics.Tensors.TensorPrimitives.Add(acc, src.Slice((s * n + t) * d, d), acc);
                System.Numerics.Tensors.TensorPrimitives.Multiply(acc, 1f / (n - prefix), acc);
            }
            pooled.CopyTo(pooledN);
        }
        else
        {
            int stride = lastClsOnly ? 1 : n; // the last block's output is compact when it ran for the class token only
            for (int s = 0; s < b; s++) xl.Slice(s * stride * d, d).CopyTo(pooled.Slice(s * d, d));
            if (normLn != null) LayerNorm.Forward(pooled, V(normLn.Weight), V(normLn.Bias), pooledN, meanN, rstdN, b, d, normLn.Eps);
            else pooled.CopyTo(pooledN);
        }
        if (m.FcNorm is Nn.LayerNorm fc) LayerNorm.Forward(pooledN.AsSpan(0, b * d), V(fc.Weight), V(fc.Bias), pooledF, meanF, rstdF, b, d, fc.Eps);
        else pooledN.AsSpan(0, b * d).CopyTo(pooledF);
        var feat = Feat(b);
        if (m.PreLogits != null)
        {
            var fcp = m.PreLogits.Fc;
            Gemm.Sgemm(false, true, b, features, d, 1f, pooledF, d, W(fcp.Weight), d, 0f, preAct, features, V(fcp.Bias), default(NoEpilogue));
            Activations.Tanh(preAct.AsSpan(0, b * features), preAct.AsSpan(0, b * features));
        }
        var head = (Linear)m.Head;
        Gemm.Sgemm(false, true, b, classes, features, 1f, feat, features, W(head.Weight), features, 0f, logits, classes, V(head.Bias), default(NoEpilogue));
    }

    /// <summary>The head's input: pre-logits output when there is a pre-logits layer, else the pooled features.</summary>
    private ReadOnlySpan<float> Feat(int b) => model.PreLogits != null ? preAct.AsSpan(0, b * features) : pooledF.AsSpan(0, b * d);

    // ------------------------------------------------------------------ loss

    /// <summary>Mean cross-entropy over the batch and its gradient (softmax − target) / B into dlogits.</summary>
    private float Loss(int b, int[]? labels, Tensor? soft, float smoothing)
    {
        int c = classes;
        var st = soft != null ? soft.AsSpan() : default;
        double total = 0;
        for (int s = 0; s < b; s++)
        {
            var z = logits.AsSpan(s * c, c);
            var g = dlogits.AsSpan(s * c, c);
            float max = System.Numerics.Tensors.TensorPrimitives.Max(z);
            double sum = 0;
            for (int j = 0; j < c; j++) sum += Math.Exp(z[j] - max);
            double lse = max + Math.Log(sum);
            double rowLossValue = 0;
            for (int j = 0; j < c; j++)
            {
                double t = soft != null ? st[s * c + j] : (j == labels![s] ? 1 - smoothing : 0) + smoothing / c;
                double p = Math.Exp(z[j] - lse);
                rowLossValue += t * (lse - z[j]);
                g[j] = (float)((p - t) / b);
            }
            total += rowLossValue;
        }
        return (float)(total / b);
    }

    // ------------------------------------------------------------------ backward

    private void HeadBackward(int b)
    {
        var m = model;
        var head = (Linear)m.Head;
        var dl = dlogits.AsSpan(0, b * classes);
        var feat = Feat(b);
        if (Trainable(head.Weight)) Gemm.Sgemm(true, false, classes, features, b, 1f, dl, classes, feat, features, 0f, G(head.Weight), features);
        if (head.Bias != null && Trainable(head.Bias)) ColSum(dl, b, classes, G(head.Bias));
        if (!BackboneNeedsGrad() && (m.PreLogits == null || !Trainable(m.PreLogits.Fc.Weight))) return;
        Gemm.Sgemm(false, false, b, features, classes, 1f, dl, classes, W(head.Weight), features, 0f, dfeat, features);
        var dFeatures = dfeat.AsSpan(0, b * features);
        if (m.PreLogits != null)
        {
            var fcp = m.PreLogits.Fc;
            Activations.TanhBackward(preAct.AsSpan(0, b * features), dFeatures, dpre.AsSpan(0, b * features));
            var dp = dpre.AsSpan(0, b * features);
            if (Trainable(fcp.Weight)) Gemm.Sgemm(true, false, features, d, b, 1f, dp, features, pooledF, d, 0f, G(fcp.Weight), d);
            if (Trainable(fcp.Bias!)) ColSum(dp, b, features, G(fcp.Bias!));
            if (!BackboneNeedsGrad()) return;
            Gemm.Sgemm(false, false, b, d, features, 1f, dp, features, W(fcp.Weight), d, 0f, dpool, d);
        }
        else dFeatures.CopyTo(dpool);
        if (!BackboneNeedsGrad()) return;
        var dp2 = dpool.AsSpan(0, b * d);
        if (m.FcNorm is Nn.LayerNorm fc)
        {
            LayerNorm.Backward(pooledN, V(fc.Weight), meanF, rstdF, dp2, dpoolN, GOpt(fc.Weight), GOpt(fc.Bias), b, d);
            dpoolN.AsSpan(0, b * d).CopyTo(dp2);
        }
        // dp2 = dL/d(pooled before fc_norm) → back through pooling and the final norm into dx (rows × d).
        var dxs = dx.AsSpan(0, b * n * d);
        var normLn = m.Norm as Nn.LayerNorm;
        if (cfg.GlobalPool == GlobalPool.Avg)
        {
            var target = normLn != null ? dtmp.AsSpan(0, b * n * d) : dxs;
            float inv = 1f / (n - prefix);
            for (int s = 0; s < b; s++)
            {
                target.Slice(s * n * d, prefix * d).Clear();
                for (int t = prefix; t < n; t++) System.Numerics.Tensors.TensorPrimitives.Multiply(dp2.Slice(s * d, d), inv, target.Slice((s * n + t) * d, d));
            }
            if (normLn != null)
                LayerNorm.Backward(xs[depth].AsSpan(0, b * n * d), V(normLn.Weight), meanFinal, rstdFinal, target, dxs, GOpt(normLn.Weight), GOpt(normLn.Bias), b * n, d);
        }
        else if (lastClsOnly)
        {
            // The last block's output is compact (one class-token row per image): so is its gradient.
            var dc = dxCls.AsSpan(0, b * d);
            if (normLn != null) LayerNorm.Backward(pooledRaw, V(normLn.Weight), meanN, rstdN, dp2, dc, GOpt(normLn.Weight), GOpt(normLn.Bias), b, d);
            else dp2.CopyTo(dc);
        }
        else
        {
            dxs.Clear();
            if (normLn != null)
            {
                LayerNorm.Backward(pooledRaw, V(normLn.Weight), meanN, rstdN, dp2, dpoolN, GOpt(normLn.Weight), GOpt(normLn.Bias), b, d);
                for (int s = 0; s < b; s++) dpoolN.AsSpan(s * d, d).CopyTo(dxs.Slice(s * n * d, d));
            }
            else for (int s = 0; s < b; s++) dp2.Slice(s * d, d).CopyTo(dxs.Slice(s * n * d, d));
        }
    }

    private void Backward(int b)
    {
        if (!BackboneNeedsGrad()) return;
        int rows = b * n;
        var m = model;
        var dxs = dx.AsSpan(0, rows * d);
        int lowest = LowestTrainableLayer();
        for (int l = depth - 1; l >= lowest; l--)
        {
            var blk = (Block)m.Blocks.Items[l];
            if (lastClsOnly && l == depth - 1)
            {
                LastBlockBackward(b, blk);
                continue;
            }
            MlpAndProjBackward(blk, l, dxs, rows);
            var qkvL = blk.Attn.Qkv;
            using (Profiler.Time(IdBwdAttn))
            {
                fixed (float* pq = qkv[l], po = att[l], pl = lse[l], pdo = datt, pdq = dqkv, pp = probs[l])
                {
                    Attention.Backward(pq, QkvStrides, pq + d, QkvStrides, pq + 2 * d, QkvStrides, po, MergedStrides, pl, pdo, MergedStrides,
                        pdq, QkvStrides, pdq + d, QkvStrides, pdq + 2 * d, QkvStrides, b, heads, n, n, dh, blk.Attn.Scale, probs: pp);
                }
            }
            using (Profiler.Time(IdBwdQkv))
            {
                LinearBackward(qkvL, dqkv, xn1[l], rows, dxn, default(NoEpilogue));
            }
            using (Profiler.Time(IdBwdLn))
            {
                LayerNorm.Backward(xs[l].AsSpan(0, rows * d), V(blk.Norm1.Weight), mean1[l], rstd1[l], dxn.AsSpan(0, rows * d), dxs, GOpt(blk.Norm1.Weight), GOpt(blk.Norm1.Bias), rows, d, accumulate: true);
            }
        }
        if (lowest > 0) return;
        using (Profiler.Time(IdBwdEmb)) EmbeddingBackward(b);
    }

    /// <summary>
    /// Backward of <see cref="ProjAndMlpForward"/> on <paramref name="count"/> rows: <paramref name="dy"/> holds
    /// dL/d(block output) and becomes dL/d(xmid) (the residuals pass gradients through unchanged); datt receives
    /// dL/d(att). Parameter gradients of fc1, fc2, proj and norm2 are written.
    /// </summary>
    private void MlpAndProjBackward(Block blk, int l, Span<float> dy, int count)
    {
        var fc1 = blk.Mlp.Fc1;
        var fc2 = blk.Mlp.Fc2;
        using (Profiler.Time(IdBwdFc2))
        {
            fixed (float* pre = hpre[l])
                LinearBackward(fc2, dy, hact[l], count, dh1, new MulEpilogue(pre, hidden));
        }
        using (Profiler.Time(IdBwdFc1))
        {
            LinearBackward(fc1, dh1, xn2[l], count, dxn, default(NoEpilogue));
        }
        using (Profiler.Time(IdBwdLn))
            LayerNorm.Backward(xmid[l].AsSpan(0, count * d), V(blk.Norm2.Weight), mean2[l], rstd2[l], dxn.AsSpan(0, count * d), dy, GOpt(blk.Norm2.Weight), GOpt(blk.Norm2.Bias), count, d, accumulate: true);
        var projL = blk.Attn.Proj;
        using (Profiler.Time(IdBwdProj))
        {
            LinearBackward(projL, dy, att[l], count, datt, default(NoEpilogue));
        }
    }

    /// <summary>Backward of <see cref="LastBlockForward"/>: from the compact class-token gradient in dxCls to dx
    /// (rows × d) at the block's input.</summary>
    private void LastBlockBackward(int b, Block blk)
    {
        int l = depth - 1, rows = b * n;
        var dc = dxCls.AsSpan(0, b * d);
        MlpAndProjBackward(blk, l, dc, b);
        var qkvL = blk.Attn.Qkv;
        using (Profiler.Time(IdBwdAttn))
        {
            fixed (float* pq = qkv[l], pc = qCls, po = att[l], pl = lse[l], pdo = datt, pdc = dqCls, pdq = dqkv, pp = probs[l])
            {
                Attention.Backward(pc, ClsStrides, pq + d, QkvStrides, pq + 2 * d, QkvStrides, po, ClsStrides, pl, pdo, ClsStrides,
                    pdc, ClsStrides, pdq + d, QkvStrides, pdq + 2 * d, QkvStrides, b, heads, 1, n, dh, blk.Attn.Scale, probs: pp);
            }
        }
        using (Profiler.Time(IdBwdQkv))
        {
            // Key/value rows of the fused weight from every token; query rows from the class tokens alone.
            var wqkv = W(qkvL.Weight);
            var dkv = dqkv.AsSpan(d);
            bool w = Trainable(qkvL.Weight), bias = qkvL.Bias != null && Trainable(qkvL.Bias);
            var gw = w ? G(qkvL.Weight) : default;
            var gb = bias ? G(qkvL.Bias!) : default;
            LinearGrads(w, bias, dkv, 3 * d, 2 * d, xn1[l], d, rows, w ? gw[(d * d)..] : default, bias ? gb[d..] : default);
            LinearGrads(w, bias, dqCls, d, d, xn1Cls, d, b, w ? gw[..(d * d)] : default, bias ? gb[..d] : default);
            Gemm.Sgemm(false, false, rows, d, 2 * d, 1f, dkv, 3 * d, wqkv[(d * d)..], d, 0f, dxn, d);
            Gemm.Sgemm(false, false, b, d, d, 1f, dqCls, d, wqkv[..(d * d)], d, 1f, dxn, n * d); // adds into the class-token rows
        }
        using (Profiler.Time(IdBwdLn))
        {
            var dxs = dx.AsSpan(0, rows * d);
            LayerNorm.Backward(xs[l].AsSpan(0, rows * d), V(blk.Norm1.Weight), mean1[l], rstd1[l], dxn.AsSpan(0, rows * d), dxs, GOpt(blk.Norm1.Weight), GOpt(blk.Norm1.Bias), rows, d);
            // The residual carries the class-token gradient past the block.
            for (int s = 0; s < b; s++) System.Numerics.Tensors.TensorPrimitives.Add(dxs.Slice(s * n * d, d), dc.Slice(s * d, d), dxs.Slice(s * n * d, d));
        }
    }

    private void EmbeddingBackward(int b)
    {
        var m = model;
        var dxs = dx.AsSpan(0, b * n * d);
        if (m.PosEmbed != null && Trainable(m.PosEmbed))
        {
            var gp = G(m.PosEmbed);
            dxs.Slice(0, n * d).CopyTo(gp);
            for (int s = 1; s < b; s++) System.Numerics.Tensors.TensorPrimitives.Add(gp, dxs.Slice(s * n * d, n * d), gp);
        }
        if (m.ClsToken != null && Trainable(m.ClsToken))
        {
            var gc = G(m.ClsToken);
            gc.Clear();
            for (int s = 0; s < b; s++) System.Numerics.Tensors.TensorPrimitives.Add(gc, dxs.Slice(s * n * d, d), gc);
        }
        var proj = m.PatchEmbed.Proj;
        bool wantW = Trainable(proj.Weight), wantB = proj.Bias != null && Trainable(proj.Bias);
        if (!wantW && !wantB) return;
        var demb = emb.AsSpan(0, b * np * d); // the forward's patch GEMM output is dead now: reuse it
        for (int s = 0; s < b; s++) dxs.Slice((s * n + prefix) * d, np * d).CopyTo(demb.Slice(s * np * d, np * d));
        if (wantW) Gemm.Sgemm(true, false, d, patchLen, b * np, 1f, demb, d, cols, patchLen, 0f, G(proj.Weight), patchLen);
        if (wantB) ColSum(demb, b * np, d, G(proj.Bias!));
    }

    /// <summary>True when any parameter below the head (blocks, embeddings, norms) is trained.</summary>
    private bool BackboneNeedsGrad()
    {
        var m = model;
        if (m.Norm is Nn.LayerNorm ln && (Trainable(ln.Weight) || Trainable(ln.Bias))) return true;
        if (m.FcNorm is Nn.LayerNorm fn && (Trainable(fn.Weight) || Trainable(fn.Bias))) return true;
        return LowestTrainableLayer() < depth || EmbeddingTrainable();
    }

    private bool EmbeddingTrainable()
    {
        var m = model;
        return Trainable(m.PatchEmbed.Proj.Weight) || (m.PatchEmbed.Proj.Bias is { } pb && Trainable(pb))
            || (m.PosEmbed != null && Trainable(m.PosEmbed)) || (m.ClsToken != null && Trainable(m.ClsToken));
    }

    /// <summary>The lowest block the backward must reach (depth when no block and no embedding is trained).</summary>
    private int LowestTrainableLayer()
    {
        if (EmbeddingTrainable()) return 0;
        for (int l = 0; l < depth; l++)
            foreach (var p in model.Blocks.Items[l].Parameters())
                if (p.RequiresGrad) return l;
        return depth;
    }

    // ------------------------------------------------------------------ helpers

    private static bool Trainable(Parameter p) => p.RequiresGrad;

    private static ReadOnlySpan<float> W(Parameter p)
    {
        var t = p.Value;
        if (!t.IsContiguous) throw new VitException("training step: non-contiguous parameter");
        return t.Storage.Data.AsSpan(t.Offset, t.Numel);
    }

    private static ReadOnlySpan<float> V(Parameter? p) => p == null ? default : W(p);

    private Span<float> G(Parameter p) => grads[p.Value].AsSpan();

    private Span<float> GOpt(Parameter p) => p.RequiresGrad ? G(p) : default;

    /// <summary>
    /// A Linear layer's backward on <paramref name="rows"/> rows: from dY (rows × out) and the layer input X (rows × in),
    /// the parameter gradients (dW = dYᵀ·X and db = Σ_rows dY, for the trainable ones) and dX = epilogue(dY·W)
    /// (rows × in), the two products sharing one parallel job when the weight is trained (the bias sums come from the
    /// weight GEMM's packed dYᵀ panels: no second pass over dY).
    /// </summary>
    private void LinearBackward<TEpi>(Linear layer, ReadOnlySpan<float> dy, ReadOnlySpan<float> x, int rows, Span<float> dx, TEpi epilogue)
        where TEpi : struct, IGemmEpilogue
    {
        int outF = layer.OutFeatures, inF = layer.InFeatures;
        bool bias = layer.Bias != null && Trainable(layer.Bias);
        if (Trainable(layer.Weight))
        {
            Gemm.LinearBackward(rows, outF, inF, dy, outF, x, inF, W(layer.Weight), G(layer.Weight), bias ? G(layer.Bias!) : default, dx, inF, epilogue);
            return;
        }
        LinearGrads(false, bias, dy, outF, outF, x, inF, rows, default, bias ? G(layer.Bias!) : default);
        Gemm.Sgemm(false, false, rows, inF, outF, 1f, dy, outF, W(layer.Weight), inF, 0f, dx, inF, default, epilogue);
    }

    /// <summary>dW = dYᵀ·X (outF×inF) and db = Σ_rows dY, where dY is rows × outF at row stride ldy.</summary>
    private static void LinearGrads(bool w, bool bias, ReadOnlySpan<float> dy, int ldy, int outF, ReadOnlySpan<float> x, int inF, int rows, Span<float> gw, Span<float> gb)
    {
        if (w && bias) Gemm.SgemmWithRowSums(true, false, outF, inF, rows, 1f, dy, ldy, x, inF, 0f, gw, inF, gb);
        else if (w) Gemm.Sgemm(true, false, outF, inF, rows, 1f, dy, ldy, x, inF, 0f, gw, inF);
        else if (bias) ColSum(dy, ldy, rows, outF, gb);
    }

    private static void ColSum(ReadOnlySpan<float> src, int rows, int colsN, Span<float> dst) => ColSum(src, colsN, rows, colsN, dst);

    /// <summary>dst[j] = Σ_r src[r·ld + j] over rows × colsN.</summary>
    private static void ColSum(ReadOnlySpan<float> src, int ld, int rows, int colsN, Span<float> dst)
    {
        fixed (float* s = src, t = dst) Reduce.SumColumns(s, rows, colsN, ld, t, 1f);
    }

    private static float[] P(long length) => length == 0 ? [] : GC.AllocateUninitializedArray<float>(checked((int)length), pinned: true);

    private static float[][] Layers(int count, long length)
    {
        var a = new float[count][];
        for (int i = 0; i < count; i++) a[i] = P(length);
        return a;
    }
}
