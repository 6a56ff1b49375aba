using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>y = x·Wᵀ + b (weight (out, in), PyTorch layout). Initialised like timm's ViT: trunc-normal 0.02, zero bias.</summary>
public sealed class Linear : Module
{
    public int InFeatures { get; }
    public int OutFeatures { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    public Linear(int inFeatures, int outFeatures, bool bias = true, Rng? rng = null)
    {
        if (inFeatures <= 0 || outFeatures <= 0) throw new VitException($"Linear: sizes must be positive (in {inFeatures}, out {outFeatures})");
        InFeatures = inFeatures;
        OutFeatures = outFeatures;
        Weight = RegisterParameter("weight", new Parameter(Init.NewTensor(outFeatures, inFeatures)));
        if (bias) Bias = RegisterParameter("bias", new Parameter(Init.NewTensor(outFeatures), noWeightDecay: true));
        if (rng != null) Init.TruncNormal(Weight.Value, rng, 0.02);
    }

    public override Tensor Forward(Tensor x) => F.Linear(x, Weight.Value, Bias?.Value);

    /// <summary>Linear then exact GELU (fused in the kernel when it can be).</summary>
    public Tensor ForwardGelu(Tensor x) => F.LinearGelu(x, Weight.Value, Bias?.Value);
}

/// <summary>LayerNorm over the last dimension (weight 1, bias 0).</summary>
public sealed class LayerNorm : Module
{
    public float Eps { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    public LayerNorm(int dim, float eps = 1e-6f)
    {
        Eps = eps;
        Weight = RegisterParameter("weight", new Parameter(Init.NewTensor(dim), noWeightDecay: true));
        Bias = RegisterParameter("bias", new Parameter(Init.NewTensor(dim), noWeightDecay: true));
        Init.Ones(Weight.Value);
    }

    public override Tensor Forward(Tensor x) => F.LayerNorm(x, Weight.Value, Bias.Value, Eps);
}

/// <summary>GroupNorm over NCHW, optionally followed by ReLU (timm's GroupNormAct). Weight 1, bias 0.</summary>
public sealed class GroupNorm : Module
{
    public int Groups { get; }
    public float Eps { get; }
    public bool ApplyRelu { get; }
    public Parameter Weight { get; }
    public Parameter Bias { get; }

    public GroupNorm(int groups, int channels, float eps = 1e-5f, bool applyRelu = false)
    {
        if (groups <= 0 || channels % groups != 0)
            throw new VitException($"GroupNorm: {channels} channels do not divide into {groups} groups");
        Groups = groups;
        Eps = eps;
        ApplyRelu = applyRelu;
        Weight = RegisterParameter("weight", new Parameter(Init.NewTensor(channels), noWeightDecay: true));
        Bias = RegisterParameter("bias", new Parameter(Init.NewTensor(channels), noWeightDecay: true));
        Init.Ones(Weight.Value);
    }

    public override Tensor Forward(Tensor x)
    {
        var y = F.GroupNorm(x, Groups, Weight.Value, Bias.Value, Eps);
        return ApplyRelu ? F.Relu(y) : y;
    }
}

/// <summary>2-D convolution, square kernel; padding symmetric, or TF "SAME" computed per input size.</summary>
public class Conv2d : Module
{
    public int InChannels { get; }
    public int OutChannels { get; }
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    /// <summary>TF-style SAME padding (possibly asymmetric) instead of <see cref="Padding"/>.</summary>
    public bool Same { get; }
    public Parameter Weight { get; }
    public Parameter? Bias { get; }

    public Conv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = true, bool same = false, Rng? rng = null)
    {
        if (inChannels <= 0 || outChannels <= 0 || kernel <= 0 || stride <= 0)
            throw new VitException($"Conv2d: invalid sizes (in {inChannels}, out {outChannels}, kernel {kernel}, stride {stride})");
        InChannels = inChannels;
        OutChannels = outChannels;
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Same = same;
        Weight = RegisterParameter("weight", new Parameter(Init.NewTensor(outChannels, inChannels, kernel, kernel)));
        if (bias) Bias = RegisterParameter("bias", new Parameter(Init.NewTensor(outChannels), noWeightDecay: true));
        if (rng != null) Init.TorchDefault(Weight.Value, Bias?.Value, rng);
    }

    /// <summary>TF SAME padding for one spatial dim: total = max((⌈in/s⌉−1)·s + k − in, 0), the extra pixel at the end.</summary>
    public static (int Before, int After) SamePad(int size, int kernel, int stride, int dilation = 1)
    {
        int outSize = (size + stride - 1) / stride;
        int total = Math.Max((outSize - 1) * stride + (kernel - 1) * dilation + 1 - size, 0);
        return (total / 2, total - total / 2);
    }

    public static Padding2d SamePadding(int h, int w, int kernel, int stride)
    {
        var (t, b) = SamePad(h, kernel, stride);
        var (l, r) = SamePad(w, kernel, stride);
        return new Padding2d(t, b, l, r);
    }

    protected Padding2d PaddingFor(Tensor x) =>
        Same ? SamePadding(x.Shape[^2], x.Shape[^1], Kernel, Stride) : Padding2d.Symmetric(Padding);

    /// <summary>The kernel actually applied (overridden by weight standardisation).</summary>
    protected virtual Tensor EffectiveWeight() => Weight.Value;

    public override Tensor Forward(Tensor x)
    {
        if (x.Rank != 4 || x.Shape[1] != InChannels)
            throw new ShapeException($"Conv2d: expected input (N, {InChannels}, H, W), got {x.ShapeString}");
        return F.Conv2d(x, EffectiveWeight(), Bias?.Value, Stride, PaddingFor(x));
    }
}

/// <summary>
/// Weight-standardised convolution (BiT / timm StdConv2d[Same]): each output channel's kernel is normalised to
/// zero mean and unit (biased) variance over (in, kh, kw): (w − mean) / sqrt(var + eps). timm's R50 hybrid uses
/// SAME padding and eps 1e-8; the standardisation is differentiable so training works through it.
/// </summary>
public sealed class StdConv2d : Conv2d
{
    public float Eps { get; }

    public StdConv2d(int inChannels, int outChannels, int kernel, int stride = 1, int padding = 0, bool bias = false, bool same = true, float eps = 1e-8f, Rng? rng = null)
        : base(inChannels, outChannels, kernel, stride, padding, bias, same, rng: null)
    {
        Eps = eps;
        if (rng != null) Init.KaimingNormalFanOut(Weight.Value, rng);
    }

    /// <summary>Standardises a kernel (O, I, kh, kw) per output channel.</summary>
    public static Tensor Standardize(Tensor w, float eps)
    {
        int o = w.Shape[0];
        var flat = w.Reshape(o, -1);
        var centered = flat - flat.Mean(1, keepDim: true);
        var variance = (centered * centered).Mean(1, keepDim: true);
        var std = (variance + eps).Sqrt();
        return (centered / std).Reshape(w.Shape);
    }

    protected override Tensor EffectiveWeight() => Standardize(Weight.Value, Eps);
}

/// <summary>Max pooling with a square window; SAME pads with −inf like timm's MaxPool2dSame.</summary>
public sealed class MaxPool2d : Module
{
    public int Kernel { get; }
    public int Stride { get; }
    public int Padding { get; }
    public bool Same { get; }

    public MaxPool2d(int kernel, int stride, int padding = 0, bool same = false)
    {
        Kernel = kernel;
        Stride = stride;
        Padding = padding;
        Same = same;
    }

    public override Tensor Forward(Tensor x)
    {
        var pad = Same ? Conv2d.SamePadding(x.Shape[^2], x.Shape[^1], Kernel, Stride) : Padding2d.Symmetric(Padding);
        return F.MaxPool2d(x, Kernel, Stride, pad);
    }
}

/// <summary>Inverted dropout (identity in evaluation or when p = 0).</summary>
public sealed class Dropout(float p) : Module, IStochastic
{
    public float P { get; } = p is >= 0 and < 1 ? p : throw new VitException($"Dropout: probability {p} is outside [0, 1)");
    public Rng? Generator { get; set; }

    public override Tensor Forward(Tensor x) => P == 0 || !Training ? x : F.Dropout(x, P, true, Generator);
}

/// <summary>Per-sample stochastic depth (identity in evaluation or when p = 0).</summary>
public sealed class DropPath(float p) : Module, IStochastic
{
    public float P { get; } = p is >= 0 and < 1 ? p : throw new VitException($"DropPath: probability {p} is outside [0, 1)");
    public Rng? Generator { get; set; }

    public override Tensor Forward(Tensor x) => P == 0 || !Training ? x : F.DropPath(x, P, true, Generator);
}

public sealed class Identity : Module
{
    public override Tensor Forward(Tensor x) => x;
}

public sealed class Tanh : Module
{
    public override Tensor Forward(Tensor x) => F.Tanh(x);
}

public sealed class Gelu(bool tanhApproximation = false) : Module
{
    public bool TanhApproximation { get; } = tanhApproximation;
    public override Tensor Forward(Tensor x) => F.Gelu(x, TanhApproximation);
}

/// <summary>Children named "0", "1", ... applied in order (torch.nn.Sequential).</summary>
public sealed class Sequential : Module
{
    private readonly List<Module> items = [];

    public Sequential(IEnumerable<Module> modules)
    {
        foreach (var m in modules) Add(m);
    }

    public Sequential(IEnumerable<(string Name, Module Module)> named)
    {
        foreach (var (n, m) in named) { RegisterModule(n, m); items.Add(m); }
    }

    public void Add(Module m)
    {
        RegisterModule(items.Count.ToString(System.Globalization.CultureInfo.InvariantCulture), m);
        items.Add(m);
    }

    public int Count => items.Count;
    public Module this[int i] => items[i];
    public IReadOnlyList<Module> Items => items;

    public override Tensor Forward(Tensor x)
    {
        foreach (var m in items) x = m.Forward(x);
        return x;
    }
}
