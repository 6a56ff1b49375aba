using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>
/// Multi-head self-attention with a fused qkv projection (timm layout: rows [q | k | v], each head-major), then
/// softmax(q·kᵀ·scale)·v, heads concatenated head-major, output projection. scale = head_dim^-0.5 unless
/// <c>qkScale</c> overrides it.
/// </summary>
public sealed class Attention : Module
{
    public int Dim { get; }
    public int NumHeads { get; }
    public int HeadDim { get; }
    public float Scale { get; }
    public float AttnDropRate { get; }
    public Linear Qkv { get; }
    public Dropout AttnDrop { get; }
    public Linear Proj { get; }
    public Dropout ProjDrop { get; }

    public Attention(int dim, int numHeads, bool qkvBias = true, float? qkScale = null, float attnDrop = 0, float projDrop = 0, Rng? rng = null)
    {
        if (numHeads <= 0 || dim % numHeads != 0)
            throw new VitException($"Attention: dim {dim} is not divisible by {numHeads} heads");
        Dim = dim;
        NumHeads = numHeads;
        HeadDim = dim / numHeads;
        Scale = qkScale ?? (float)(1.0 / Math.Sqrt(HeadDim));
        AttnDropRate = attnDrop;
        Qkv = RegisterModule("qkv", new Linear(dim, 3 * dim, qkvBias, rng));
        AttnDrop = RegisterModule("attn_drop", new Dropout(attnDrop));
        Proj = RegisterModule("proj", new Linear(dim, dim, true, rng));
        ProjDrop = RegisterModule("proj_drop", new Dropout(projDrop));
    }

    /// <summary>(B, N, C) → q, k, v each (B, H, N, Dh), contiguous.</summary>
    private (Tensor Q, Tensor K, Tensor V) SplitQkv(Tensor x)
    {
        if (x.Rank != 3 || x.Shape[2] != Dim)
            throw new ShapeException($"Attention: expected input (B, N, {Dim}), got {x.ShapeString}");
        int b = x.Shape[0], n = x.Shape[1];
        var qkv = Qkv.Forward(x).View(b, n, 3, NumHeads, HeadDim).Permute(2, 0, 3, 1, 4);
        return (qkv.Select(0, 0).Contiguous(), qkv.Select(0, 1).Contiguous(), qkv.Select(0, 2).Contiguous());
    }

    private Tensor Merge(Tensor o, int b, int n) => o.Transpose(1, 2).Reshape(b, n, Dim);

    public override Tensor Forward(Tensor x)
    {
        int b = x.Shape[0], n = x.Shape[1];
        var (q, k, v) = SplitQkv(x);
        float p = Training ? AttnDropRate : 0f;
        var o = F.ScaledDotProductAttention(q, k, v, Scale, p, p > 0 ? AttnDrop.Generator : null);
        return ProjDrop.Forward(Proj.Forward(Merge(o, b, n)));
    }

    /// <summary>Forward that also returns the attention probabilities (B, H, N, N) (before attention dropout).</summary>
    public (Tensor Output, Tensor Probs) ForwardWithProbs(Tensor x)
    {
        int b = x.Shape[0], n = x.Shape[1];
        var (q, k, v) = SplitQkv(x);
        var probs = F.AttentionProbs(q, k, Scale);
        var o = Tensor.MatMul(AttnDrop.Forward(probs), v);
        return (ProjDrop.Forward(Proj.Forward(Merge(o, b, n))), probs);
    }
}

/// <summary>fc1 → GELU → dropout → fc2 → dropout (timm Mlp).</summary>
public sealed class Mlp : Module
{
    public bool TanhGelu { get; }
    public Linear Fc1 { get; }
    public Dropout Drop1 { get; }
    public Linear Fc2 { get; }
    public Dropout Drop2 { get; }

    public Mlp(int inFeatures, int hiddenFeatures, int outFeatures, float drop = 0, bool tanhGelu = false, Rng? rng = null)
    {
        TanhGelu = tanhGelu;
        Fc1 = RegisterModule("fc1", new Linear(inFeatures, hiddenFeatures, true, rng));
        RegisterModule("act", new Gelu(tanhGelu));
        Drop1 = RegisterModule("drop1", new Dropout(drop));
        Fc2 = RegisterModule("fc2", new Linear(hiddenFeatures, outFeatures, true, rng));
        Drop2 = RegisterModule("drop2", new Dropout(drop));
    }

    public override Tensor Forward(Tensor x)
    {
        var h = TanhGelu ? F.Gelu(Fc1.Forward(x), true) : Fc1.ForwardGelu(x);
        return Drop2.Forward(Fc2.Forward(Drop1.Forward(h)));
    }
}

/// <summary>Pre-LN transformer block: x + DropPath(Attn(LN(x))), then x + DropPath(MLP(LN(x))).</summary>
public sealed class Block : Module
{
    public LayerNorm Norm1 { get; }
    public Attention Attn { get; }
    public DropPath DropPath1 { get; }
    public LayerNorm Norm2 { get; }
    public Mlp Mlp { get; }
    public DropPath DropPath2 { get; }

    public Block(int dim, int numHeads, double mlpRatio = 4, bool qkvBias = true, float? qkScale = null,
        float projDrop = 0, float attnDrop = 0, float dropPath = 0, float lnEps = 1e-6f, bool tanhGelu = false, Rng? rng = null)
    {
        Norm1 = RegisterModule("norm1", new LayerNorm(dim, lnEps));
        Attn = RegisterModule("attn", new Attention(dim, numHeads, qkvBias, qkScale, attnDrop, projDrop, rng));
        DropPath1 = RegisterModule("drop_path1", new DropPath(dropPath));
        Norm2 = RegisterModule("norm2", new LayerNorm(dim, lnEps));
        Mlp = RegisterModule("mlp", new Mlp(dim, (int)(dim * mlpRatio), dim, projDrop, tanhGelu, rng));
        DropPath2 = RegisterModule("drop_path2", new DropPath(dropPath));
    }

    public override Tensor Forward(Tensor x)
    {
        x = x + DropPath1.Forward(Attn.Forward(Norm1.Forward(x)));
        return x + DropPath2.Forward(Mlp.Forward(Norm2.Forward(x)));
    }

    public (Tensor Output, Tensor Probs) ForwardWithProbs(Tensor x)
    {
        var (a, probs) = Attn.ForwardWithProbs(Norm1.Forward(x));
        x = x + DropPath1.Forward(a);
        return (x + DropPath2.Forward(Mlp.Forward(Norm2.Forward(x))), probs);
    }
}

/// <summary>
/// Image → patch tokens: a P×P conv with stride P, flattened row-major to (B, Hp·Wp, D). Works for any channel
/// count and non-square images whose sides are multiples of P.
/// </summary>
public sealed class PatchEmbed : Module
{
    public int ImgHeight { get; }
    public int ImgWidth { get; }
    public int PatchSize { get; }
    public int GridHeight => ImgHeight / PatchSize;
    public int GridWidth => ImgWidth / PatchSize;
    public int NumPatches => GridHeight * GridWidth;
    public int InChans { get; }
    public int EmbedDim { get; }
    /// <summary>The CNN stem of a hybrid model (null for a plain ViT); its feature map is what gets patchified.</summary>
    public ResNetV2? Backbone { get; }
    public Conv2d Proj { get; }

    /// <summary>Plain patch embedding.</summary>
    public PatchEmbed(int imgHeight, int imgWidth, int patchSize, int inChans, int embedDim, Rng? rng = null)
    {
        if (patchSize <= 0 || imgHeight % patchSize != 0 || imgWidth % patchSize != 0)
            throw new VitException($"PatchEmbed: image {imgHeight}x{imgWidth} is not divisible into {patchSize}x{patchSize} patches");
        ImgHeight = imgHeight;
        ImgWidth = imgWidth;
        PatchSize = patchSize;
        InChans = inChans;
        EmbedDim = embedDim;
        Proj = RegisterModule("proj", new Conv2d(inChans, embedDim, patchSize, patchSize, 0, true, rng: rng));
    }

    /// <summary>Hybrid embedding (timm HybridEmbed): backbone feature map at stride <c>backbone.Reduction</c>, then a
    /// P×P conv (P usually 1) to the embedding dim. Image and grid sizes are in input pixels / feature cells.</summary>
    public PatchEmbed(int imgHeight, int imgWidth, int patchSize, int inChans, int embedDim, ResNetV2 backbone, Rng? rng = null)
    {
        var (fh, fw) = backbone.FeatureSize(imgHeight, imgWidth);
        if (patchSize <= 0 || fh % patchSize != 0 || fw % patchSize != 0)
            throw new VitException($"PatchEmbed: backbone feature map {fh}x{fw} is not divisible into {patchSize}x{patchSize} patches");
        // Store the grid in feature-map units scaled back so GridHeight/GridWidth stay (feature / patch).
        ImgHeight = fh;
        ImgWidth = fw;
        PatchSize = patchSize;
        InChans = inChans;
        EmbedDim = embedDim;
        Backbone = RegisterModule("backbone", backbone);
        Proj = RegisterModule("proj", new Conv2d(backbone.NumFeatures, embedDim, patchSize, patchSize, 0, true, rng: rng));
    }

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != InChans)
            throw new ShapeException($"PatchEmbed: expected images (B, {InChans}, H, W), got {x.ShapeString}");
        if (Backbone != null) x = Backbone.Forward(x);
        if (x.Shape[2] != ImgHeight || x.Shape[3] != ImgWidth)
            throw new ShapeException($"PatchEmbed: input size {x.Shape[2]}x{x.Shape[3]} does not match the model ({ImgHeight}x{ImgWidth}{(Backbone != null ? " backbone features" : "")})");
        var y = Proj.Forward(x); // (B, D, Hp, Wp)
        return y.Flatten(2).Transpose(1, 2); // (B, Hp·Wp, D)
    }
}
