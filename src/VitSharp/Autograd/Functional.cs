using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Padding per side, in pixels (TF "SAME" padding may be asymmetric).</summary>
public readonly record struct Padding2d(int Top, int Bottom, int Left, int Right)
{
    public static Padding2d Symmetric(int p) => new(p, p, p, p);
}

public enum InterpolationMode { Bilinear, Bicubic }

/// <summary>
/// Neural-network functions with autograd (like torch.nn.functional). CONTRACT: signatures are fixed (models,
/// training and checkpoint code against them); bodies are filled in by the NN-kernel work.
/// Layouts follow PyTorch: images NCHW, tokens (B, N, C), Linear weight (out, in).
/// </summary>
public static class F
{
    /// <summary>y = x·Wᵀ + b over the last dimension of x (any leading dims).</summary>
    public static Tensor Linear(Tensor x, Tensor weight, Tensor? bias) => throw new NotImplementedException();
    /// <summary>Linear followed by exact GELU, fused when possible.</summary>
    public static Tensor LinearGelu(Tensor x, Tensor weight, Tensor? bias) => throw new NotImplementedException();
    public static Tensor LayerNorm(Tensor x, Tensor? weight, Tensor? bias, float eps) => throw new NotImplementedException();
    /// <summary>GroupNorm over NCHW input.</summary>
    public static Tensor GroupNorm(Tensor x, int groups, Tensor? weight, Tensor? bias, float eps) => throw new NotImplementedException();
    /// <summary>GELU: exact (erf) by default, tanh approximation when <paramref name="tanhApproximation"/>.</summary>
    public static Tensor Gelu(Tensor x, bool tanhApproximation = false) => throw new NotImplementedException();
    public static Tensor Tanh(Tensor x) => throw new NotImplementedException();
    public static Tensor Relu(Tensor x) => throw new NotImplementedException();
    public static Tensor Softmax(Tensor x, int dim) => throw new NotImplementedException();
    public static Tensor LogSoftmax(Tensor x, int dim) => throw new NotImplementedException();
    /// <summary>Inverted dropout: zeroes with probability p and scales by 1/(1-p) in training; identity otherwise.</summary>
    public static Tensor Dropout(Tensor x, float p, bool training, Rng? rng) => throw new NotImplementedException();
    /// <summary>Stochastic depth per sample (dim 0): keeps a sample's path with prob 1-p, scaled by 1/(1-p).</summary>
    public static Tensor DropPath(Tensor x, float p, bool training, Rng? rng) => throw new NotImplementedException();
    /// <summary>softmax(q·kᵀ·scale)·v over (B, H, N, Dh) tensors; optional attention-probability dropout.</summary>
    public static Tensor ScaledDotProductAttention(Tensor q, Tensor k, Tensor v, float scale, float dropoutP = 0, Rng? rng = null) => throw new NotImplementedException();
    /// <summary>Attention probabilities softmax(q·kᵀ·scale) (B, H, N, N), for attention maps.</summary>
    public static Tensor AttentionProbs(Tensor q, Tensor k, float scale) => throw new NotImplementedException();
    /// <summary>2-D convolution, NCHW input, weight (O, I, kh, kw), groups = 1.</summary>
    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2d padding) => throw new NotImplementedException();
    /// <summary>Max pooling; padded cells are −inf (TF SAME semantics when padding is asymmetric).</summary>
    public static Tensor MaxPool2d(Tensor x, int kernel, int stride, Padding2d padding) => throw new NotImplementedException();
    /// <summary>Resizes the last two dims of an NCHW tensor (F.interpolate semantics).</summary>
    public static Tensor Interpolate(Tensor x, int outH, int outW, InterpolationMode mode, bool alignCorners, bool antialias = false) => throw new NotImplementedException();
    /// <summary>Mean cross-entropy of logits (B, C) against class indices, with optional label smoothing.</summary>
    public static Tensor CrossEntropy(Tensor logits, int[] targets, float labelSmoothing = 0) => throw new NotImplementedException();
    /// <summary>Mean cross-entropy against soft targets (B, C) (Mixup/CutMix).</summary>
    public static Tensor CrossEntropy(Tensor logits, Tensor softTargets) => throw new NotImplementedException();
}
