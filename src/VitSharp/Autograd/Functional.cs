using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Padding per side, in pixels (TF "SAME" padding may be asymmetric).</summary>
public readonly record struct Padding2d(int Top, int Bottom, int Left, int Right)
{
    public static Padding2d Symmetric(int p) => new(p, p, p, p);

    /// <summary>TF/timm "SAME" padding for one input size: total = max((⌈in/s⌉−1)·s + k − in, 0), extra on the bottom/right.</summary>
    public static Padding2d Same(int inH, int inW, int kernel, int stride)
    {
        static (int, int) Pad(int input, int k, int s)
        {
            int total = Math.Max(((input + s - 1) / s - 1) * s + k - input, 0);
            return (total / 2, total - total / 2);
        }
        var (t, b) = Pad(inH, kernel, stride);
        var (l, r) = Pad(inW, kernel, stride);
        return new Padding2d(t, b, l, r);
    }

    public bool IsZero => Top == 0 && Bottom == 0 && Left == 0 && Right == 0;
}

public enum InterpolationMode { Bilinear, Bicubic }

/// <summary>
/// Neural-network functions with autograd (like torch.nn.functional). CONTRACT: signatures are fixed (models,
/// training and checkpoint code against them); bodies are filled in by the NN-kernel work.
/// Layouts follow PyTorch: images NCHW, tokens (B, N, C), Linear weight (out, in).
/// Outputs are fresh tensors; a few come back with a non-default (but documented) stride order so that the
/// usual next view is free: <see cref="ScaledDotProductAttention"/> and the patch-embedding case of
/// <see cref="Conv2d"/>. Call Contiguous() before AsSpan() on them.
/// </summary>
public static class F
{
    /// <summary>y = x·Wᵀ + b over the last dimension of x (any leading dims).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias) => NnLinear.Forward(x, weight, bias, gelu: false);

    /// <summary>Linear followed by exact GELU, fused when possible.</summary>
    public static Tensor LinearGelu(Tensor x, Tensor weight, Tensor? bias) => NnLinear.Forward(x, weight, bias, gelu: true);

    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps) => NnNorm.LayerNorm(x, weight, bias, eps);

    /// <summary>GroupNorm over NCHW input.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps) => NnNorm.GroupNorm(x, groups, weight, bias, eps);

    /// <summary>GELU: exact (erf) by default, tanh approximation when <paramref name="tanhApproximation"/>.</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false) =>
        tanhApproximation ? NnActivation.Apply<GeluTanhOp, GeluTanhGradOp>(x, "gelu_tanh", gradFromOutput: false)
                          : NnActivation.Apply<GeluOp, GeluGradOp>(x, "gelu", gradFromOutput: false);

    public static Tensor Tanh(Tensor x) => NnActivation.Apply<TanhOp, TanhGradOp>(x, "tanh", gradFromOutput: true);

    public static Tensor Relu(Tensor x) => NnActivation.Apply<ReluOp, ReluGradOp>(x, "relu", gradFromOutput: false);

    public static Tensor Softmax(Tensor x, int dim) => NnSoftmax.Forward(x, dim, log: false);

    public static Tensor LogSoftmax(Tensor x, int dim) => NnSoftmax.Forward(x, dim, log: true);

    /// <summary>Inverted dropout: zeroes with probability p and scales by 1/(1-p) in training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng? rng) => NnDropout.Dropout(x, p, training, rng);

    /// <summary>Stochastic depth per sample (dim 0): keeps a sample's path with prob 1-p, scaled by 1/(1-p).</summary>
    public static Tensor DropPath(Tensor x, float p, bool training, Rng? rng) => NnDropout.DropPath(x, p, training, rng);

    /// <summary>
    /// softmax(q·kᵀ·scale)·v over (B, H, N, Dh) tensors; optional attention-probability dropout.
    /// q, k, v may be strided views (e.g. slices of a permuted qkv projection) as long as Dh is the unit-stride
    /// dimension. The result has shape (B, H, N, Dh) but is stored as (B, N, H, Dh), so
    /// <c>.Transpose(1, 2).Reshape(B, N, H·Dh)</c> is a free view.
    /// </summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, float scale, float dropoutP = 0, Rng? rng = null) =>
        NnAttention.Forward(q, k, v, scale, dropoutP, rng);

    /// <summary>Attention probabilities softmax(q·kᵀ·scale) (B, H, N, N), for attention maps.</summary>
    public static Tensor AttentionProbs(Tensor q, Tensor k, float scale) => NnAttention.Probs(q, k, scale);

    /// <summary>2-D convolution, NCHW input, weight (O, I, kh, kw), groups = 1.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2d padding) => NnConv.Conv2d(x, weight, bias, stride, padding);

    /// <summary>Max pooling; padded cells are −inf (TF SAME semantics when padding is asymmetric).</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride, Padding2d padding) => NnConv.MaxPool2d(x, kernel, stride, padding);

    /// <summary>Resizes the last two dims of an NCHW tensor (F.interpolate semantics).</summary>
    public static Tensor Interpolate(Tensor x, int outH, int outW, InterpolationMode mode, bool alignCorners, bool antialias = false) =>
        NnInterpolate.Forward(x, outH, outW, mode, alignCorners, antialias);

    /// <summary>Mean cross-entropy of logits (B, C) against class indices, with optional label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, float labelSmoothing = 0) => NnLoss.CrossEntropy(logits, targets, labelSmoothing);

    /// <summary>Mean cross-entropy against soft targets (B, C) (Mixup/CutMix).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor softTargets) => NnLoss.SoftCrossEntropy(logits, softTargets);
}
