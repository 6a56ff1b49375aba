using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>
/// The ResNet backbone of timm's ViT hybrids (resnetv2.py with preact=False, stem_type='same'): StdConv2dSame
/// (eps 1e-8) everywhere, GroupNorm(32, eps 1e-5) (+ReLU), SAME max-pool, bottleneck stages with the stride in the
/// 3×3 conv. Names match timm: stem.conv, stem.norm, stages.{i}.blocks.{j}.{downsample.conv, downsample.norm,
/// conv1, norm1, conv2, norm2, conv3, norm3}. R50 for ViT-B/16 uses layers (3, 4, 9) → 1024 channels at stride 16.
/// </summary>
public sealed class ResNetV2 : Module
{
    public int NumFeatures { get; }
    public int[] Layers { get; }
    public int StemWidth { get; }
    public int[] Widths { get; }
    public int Groups { get; }
    public Stem StemModule { get; }
    public Sequential Stages { get; }

    /// <param name="layers">Blocks per stage, e.g. (3, 4, 9).</param>
    /// <param name="widths">Output channels per stage (default 256, 512, 1024, 2048 truncated to the stage count).</param>
    public ResNetV2(int[] layers, int inChans = 3, int stemWidth = 64, int[]? widths = null, int groups = 32, float convEps = 1e-8f, float gnEps = 1e-5f, Rng? rng = null)
    {
        if (layers.Length == 0) throw new VitException("ResNetV2: at least one stage is needed");
        widths ??= [.. new[] { 256, 512, 1024, 2048 }.Take(layers.Length)];
        if (widths.Length != layers.Length)
            throw new VitException($"ResNetV2: {widths.Length} stage widths for {layers.Length} stages");
        Layers = (int[])layers.Clone();
        StemWidth = stemWidth;
        Widths = (int[])widths.Clone();
        Groups = groups;
        StemModule = RegisterModule("stem", new Stem(inChans, stemWidth, groups, convEps, gnEps, rng));
        var stages = new List<Module>();
        int prev = stemWidth;
        for (int i = 0; i < layers.Length; i++)
        {
            stages.Add(new ResNetStage(prev, widths[i], i == 0 ? 1 : 2, layers[i], groups, convEps, gnEps, rng));
            prev = widths[i];
        }
        Stages = RegisterModule("stages", new Sequential(stages));
        NumFeatures = prev;
    }

    /// <summary>timm's make_div: round to a multiple of 8 (at least 8), never more than 10% below the value.</summary>
    public static int MakeDiv(double v, int divisor = 8)
    {
        int r = Math.Max(divisor, (int)(v + divisor / 2.0) / divisor * divisor);
        if (r < 0.9 * v) r += divisor;
        return r;
    }

    /// <summary>Bottleneck width: make_div(out · 0.25).</summary>
    public static int MidChannels(int outChans) => MakeDiv(outChans * 0.25);

    /// <summary>Total stride: 4 from the stem, ×2 per stage after the first.</summary>
    public int Reduction => 4 << (Layers.Length - 1);

    /// <summary>Feature-map size for an input size (SAME padding: every stride-s step is a ceil division).</summary>
    public (int H, int W) FeatureSize(int h, int w)
    {
        static int Ceil(int a, int s) => (a + s - 1) / s;
        h = Ceil(Ceil(h, 2), 2);
        w = Ceil(Ceil(w, 2), 2);
        for (int i = 1; i < Layers.Length; i++) { h = Ceil(h, 2); w = Ceil(w, 2); }
        return (h, w);
    }

    public override Tensor Forward(Tensor x) => Stages.Forward(StemModule.Forward(x));

    /// <summary>Multiply-accumulates of the convolutions for one image.</summary>
    public long Macs(int h, int w) => Macs(Layers, StemModule.Conv.InChannels, StemWidth, Widths, h, w);

    public static long Macs(int[] layers, int inChans, int stemWidth, int[] widths, int h, int w)
    {
        // Walk the stem and stages explicitly so every conv knows its input size.
        long total = 0;
        static int Ceil(int a, int s) => (a + s - 1) / s;
        int oh = Ceil(h, 2), ow = Ceil(w, 2);
        total += (long)oh * ow * stemWidth * inChans * 49;
        h = Ceil(oh, 2); w = Ceil(ow, 2);
        int prev = stemWidth;
        for (int s = 0; s < layers.Length; s++)
        {
            int stride = s == 0 ? 1 : 2;
            int mid = MidChannels(widths[s]);
            for (int b = 0; b < layers[s]; b++)
            {
                int st = b == 0 ? stride : 1;
                int inC = b == 0 ? prev : widths[s];
                int h2 = Ceil(h, st), w2 = Ceil(w, st);
                if (b == 0) total += (long)h2 * w2 * inC * widths[s];           // downsample 1x1
                total += (long)h * w * inC * mid;                                // conv1 1x1
                total += (long)h2 * w2 * mid * mid * 9;                          // conv2 3x3
                total += (long)h2 * w2 * mid * widths[s];                        // conv3 1x1
                h = h2; w = w2;
            }
            prev = widths[s];
        }
        return total;
    }

    /// <summary>timm's ResNetV2 init: convs kaiming-normal fan-out, norms 1/0, and the last norm of each
    /// bottleneck zeroed (zero_init_last) so every residual branch starts as identity.</summary>
    public void InitWeights(Rng rng)
    {
        foreach (var (_, m) in NamedModules())
        {
            switch (m)
            {
                case Conv2d c:
                    Init.KaimingNormalFanOut(c.Weight.Value, rng);
                    if (c.Bias != null) Init.Zeros(c.Bias.Value);
                    break;
                case GroupNorm g:
                    Init.Ones(g.Weight.Value);
                    Init.Zeros(g.Bias.Value);
                    break;
            }
        }
        foreach (var (_, m) in NamedModules())
            if (m is Bottleneck b) Init.Zeros(b.Norm3.Weight.Value);
    }

    public sealed class Stem : Module
    {
        public StdConv2d Conv { get; }
        public GroupNorm Norm { get; }
        public MaxPool2d Pool { get; }

        public Stem(int inChans, int width, int groups, float convEps, float gnEps, Rng? rng)
        {
            Conv = RegisterModule("conv", new StdConv2d(inChans, width, 7, 2, bias: false, same: true, eps: convEps, rng: rng));
            Norm = RegisterModule("norm", new GroupNorm(groups, width, gnEps, applyRelu: true));
            Pool = RegisterModule("pool", new MaxPool2d(3, 2, same: true));
        }

        public override Tensor Forward(Tensor x) => Pool.Forward(Norm.Forward(Conv.Forward(x)));
    }

    public sealed class ResNetStage : Module
    {
        public Sequential Blocks { get; }

        public ResNetStage(int inChans, int outChans, int stride, int depth, int groups, float convEps, float gnEps, Rng? rng)
        {
            var blocks = new List<Module>();
            for (int i = 0; i < depth; i++)
                blocks.Add(new Bottleneck(i == 0 ? inChans : outChans, outChans, i == 0 ? stride : 1, i == 0, groups, convEps, gnEps, rng));
            Blocks = RegisterModule("blocks", new Sequential(blocks));
        }

        public override Tensor Forward(Tensor x) => Blocks.Forward(x);
    }

    /// <summary>Non-pre-activation bottleneck (timm resnetv2.Bottleneck): 1×1 → 3×3 (stride) → 1×1 (×4), GN after
    /// each, projection shortcut on the first block, ReLU after the sum.</summary>
    public sealed class Bottleneck : Module
    {
        public DownsampleConv? Downsample { get; }
        public StdConv2d Conv1 { get; }
        public GroupNorm Norm1 { get; }
        public StdConv2d Conv2 { get; }
        public GroupNorm Norm2 { get; }
        public StdConv2d Conv3 { get; }
        public GroupNorm Norm3 { get; }

        public Bottleneck(int inChans, int outChans, int stride, bool downsample, int groups, float convEps, float gnEps, Rng? rng)
        {
            int mid = MidChannels(outChans);
            if (downsample) Downsample = RegisterModule("downsample", new DownsampleConv(inChans, outChans, stride, groups, convEps, gnEps, rng));
            Conv1 = RegisterModule("conv1", new StdConv2d(inChans, mid, 1, 1, bias: false, same: true, eps: convEps, rng: rng));
            Norm1 = RegisterModule("norm1", new GroupNorm(groups, mid, gnEps, applyRelu: true));
            Conv2 = RegisterModule("conv2", new StdConv2d(mid, mid, 3, stride, bias: false, same: true, eps: convEps, rng: rng));
            Norm2 = RegisterModule("norm2", new GroupNorm(groups, mid, gnEps, applyRelu: true));
            Conv3 = RegisterModule("conv3", new StdConv2d(mid, outChans, 1, 1, bias: false, same: true, eps: convEps, rng: rng));
            Norm3 = RegisterModule("norm3", new GroupNorm(groups, outChans, gnEps, applyRelu: false));
        }

        public override Tensor Forward(Tensor x)
        {
            var shortcut = Downsample != null ? Downsample.Forward(x) : x;
            var y = Norm1.Forward(Conv1.Forward(x));
            y = Norm2.Forward(Conv2.Forward(y));
            y = Norm3.Forward(Conv3.Forward(y));
            return F.Relu(y + shortcut);
        }
    }

    public sealed class DownsampleConv : Module
    {
        public StdConv2d Conv { get; }
        public GroupNorm Norm { get; }

        public DownsampleConv(int inChans, int outChans, int stride, int groups, float convEps, float gnEps, Rng? rng)
        {
            Conv = RegisterModule("conv", new StdConv2d(inChans, outChans, 1, stride, bias: false, same: true, eps: convEps, rng: rng));
            Norm = RegisterModule("norm", new GroupNorm(groups, outChans, gnEps, applyRelu: false));
        }

        public override Tensor Forward(Tensor x) => Norm.Forward(Conv.Forward(x));
    }
}
