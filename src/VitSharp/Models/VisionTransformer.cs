using VitSharp.Autograd;
using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>
/// The Vision Transformer as timm builds it (vision_transformer.py, plus the DeiT distillation token and the
/// original in21k pre-logits layer). State-dict keys are timm's: cls_token, pos_embed, dist_token,
/// patch_embed.proj.*, (patch_embed.backbone.* for hybrids), blocks.{i}.{norm1, attn.qkv, attn.proj, norm2,
/// mlp.fc1, mlp.fc2}.*, norm.*, fc_norm.*, pre_logits.fc.*, head.*, head_dist.*.
/// </summary>
public sealed class VisionTransformer : Module
{
    public VitConfig Config { get; private set; }
    public Parameter? ClsToken { get; }
    public Parameter? PosEmbed { get; }
    public Parameter? DistToken { get; }
    /// <summary>Fixed sinusoid table (1, tokens, D) when <see cref="PosEmbedKind.Sincos"/> is used (not saved).</summary>
    public Tensor? SincosPosEmbed { get; }
    public PatchEmbed PatchEmbed { get; }
    public Dropout PosDrop { get; }
    public Sequential Blocks { get; }
    public Module Norm { get; }
    public Module FcNorm { get; }
    public PreLogitsLayer? PreLogits { get; private set; }
    public Dropout HeadDrop { get; }
    public Module Head { get; private set; }
    public Module? HeadDist { get; private set; }

    public int NumPrefixTokens => Config.NumPrefixTokens;
    public int EmbedDim => Config.EmbedDim;
    /// <summary>Width of the vector the head sees (representation size when a pre-logits layer exists).</summary>
    public int NumFeatures => PreLogits != null ? PreLogits.Fc.OutFeatures : Config.EmbedDim;

    /// <summary>Builds the model and initialises it like timm (seeded; the same seed gives the same weights).
    /// <paramref name="initialize"/> = false skips the random init (weights zero, norms one) — timm's
    /// weight_init='skip' — for models about to receive pretrained weights.</summary>
    public VisionTransformer(VitConfig config, Rng? rng = null, bool initialize = true)
    {
        Config = config.Validate();
        rng = initialize ? rng ?? new Rng(0) : null;
        int d = config.EmbedDim;

        // Own parameters first (PyTorch lists them before children's).
        if (config.ClassToken)
        {
            ClsToken = RegisterParameter("cls_token", new Parameter(Init.NewTensor(1, 1, d), noWeightDecay: true));
            if (rng != null) Init.TruncNormal(ClsToken.Value, rng, 0.02);
        }
        int tokens = config.NumTokens;
        if (config.PosEmbed == PosEmbedKind.Learn)
        {
            PosEmbed = RegisterParameter("pos_embed", new Parameter(Init.NewTensor(1, tokens, d), noWeightDecay: true));
            if (rng != null) Init.TruncNormal(PosEmbed.Value, rng, 0.02);
        }
        else if (config.PosEmbed == PosEmbedKind.Sincos)
            SincosPosEmbed = RegisterBuffer("pos_embed_sincos", Sincos1d(tokens, d), persistent: false);
        if (config.Distilled)
        {
            DistToken = RegisterParameter("dist_token", new Parameter(Init.NewTensor(1, 1, d), noWeightDecay: true));
            if (rng != null) Init.TruncNormal(DistToken.Value, rng, 0.02);
        }

        if (config.IsHybrid)
        {
            var backbone = new ResNetV2(config.HybridLayers!, config.InChans, config.HybridStemWidth, config.HybridWidths, config.HybridGroups, rng: null);
            if (rng != null) backbone.InitWeights(rng);
            PatchEmbed = RegisterModule("patch_embed", new PatchEmbed(config.ImgHeight, config.ImgWidth, config.PatchSize, config.InChans, d, backbone, rng));
        }
        else
            PatchEmbed = RegisterModule("patch_embed", new PatchEmbed(config.ImgHeight, config.ImgWidth, config.PatchSize, config.InChans, d, rng));
        if (PatchEmbed.NumPatches != config.NumPatches)
            throw new InvalidOperationException($"patch grid {PatchEmbed.GridHeight}x{PatchEmbed.GridWidth} disagrees with config grid {config.Grid}");

        PosDrop = RegisterModule("pos_drop", new Dropout(config.DropRate));
        var blocks = new List<Module>();
        for (int i = 0; i < config.Depth; i++)
        {
            float dpr = config.Depth > 1 ? config.DropPathRate * i / (config.Depth - 1) : 0f; // torch.linspace(0, rate, depth)
            blocks.Add(new Block(d, config.NumHeads, config.MlpRatio, config.QkvBias, config.QkScale, config.DropRate,
                config.AttnDropRate, dpr, config.LayerNormEps, config.Gelu == GeluKind.Tanh, rng));
        }
        Blocks = RegisterModule("blocks", new Sequential(blocks));
        Norm = RegisterModule<Module>("norm", config.UseFcNorm ? new Identity() : new LayerNorm(d, config.LayerNormEps));
        FcNorm = RegisterModule<Module>("fc_norm", config.UseFcNorm ? new LayerNorm(d, config.LayerNormEps) : new Identity());
        if (config.RepresentationSize is int rep)
            PreLogits = RegisterModule("pre_logits", new PreLogitsLayer(d, rep, rng));
        HeadDrop = RegisterModule("head_drop", new Dropout(config.HeadDropRate));
        Head = RegisterModule("head", MakeHead(NumFeatures, config.NumClasses, rng));
        if (config.Distilled) HeadDist = RegisterModule("head_dist", MakeHead(NumFeatures, config.NumClasses, rng));
    }

    private static Module MakeHead(int features, int classes, Rng? rng) =>
        classes > 0 ? new Linear(features, classes, true, rng) : new Identity();

    /// <summary>1-D sinusoid table: even dims sin(pos / 10000^(2i/D)), odd dims the cosine of the same angle.</summary>
    public static Tensor Sincos1d(int tokens, int dim)
    {
        var t = Init.NewTensor(1, tokens, dim);
        var s = t.AsSpan();
        for (int p = 0; p < tokens; p++)
            for (int j = 0; j < dim; j++)
            {
                int i2 = j - (j & 1);
                double angle = p / Math.Pow(10000.0, (double)i2 / dim);
                s[p * dim + j] = (float)((j & 1) == 0 ? Math.Sin(angle) : Math.Cos(angle));
            }
        return t;
    }

    // ------------------------------------------------------------------ forward

    /// <summary>Tokens after patch embedding, prefix tokens, position embedding and its dropout: (B, N, D).</summary>
    public Tensor Embed(Tensor x)
    {
        x = PatchEmbed.Forward(x);
        int b = x.Shape[0], d = Config.EmbedDim;
        if (ClsToken != null)
        {
            var parts = new List<Tensor>(3) { ClsToken.Value.Expand(b, 1, d) };
            if (DistToken != null) parts.Add(DistToken.Value.Expand(b, 1, d));
            parts.Add(x);
            x = Tensor.Cat(parts, 1);
        }
        if (PosEmbed != null) x = x + PosEmbed.Value;
        else if (SincosPosEmbed != null) x = x + SincosPosEmbed;
        return PosDrop.Forward(x);
    }

    /// <summary>All tokens after the blocks and the final norm: (B, N, D).</summary>
    public Tensor ForwardFeatures(Tensor x)
    {
        x = Blocks.Forward(Embed(x));
        return Norm.Forward(x);
    }

    /// <summary>Pools the tokens (class token or mean of patch tokens), then fc_norm and pre-logits: (B, F).</summary>
    public Tensor Pool(Tensor tokens, int prefixIndex = 0)
    {
        var x = Config.GlobalPool == GlobalPool.Avg
            ? tokens.Narrow(1, NumPrefixTokens, tokens.Shape[1] - NumPrefixTokens).Mean(1)
            : tokens.Select(1, prefixIndex);
        x = FcNorm.Forward(x);
        if (PreLogits != null) x = PreLogits.Forward(x);
        return x;
    }

    /// <summary>Head on the pooled features. With <paramref name="preLogits"/> returns the features instead.</summary>
    public Tensor ForwardHead(Tensor tokens, bool preLogits = false)
    {
        if (HeadDist == null)
        {
            var x = HeadDrop.Forward(Pool(tokens));
            return preLogits ? x : Head.Forward(x);
        }
        var (a, b) = ForwardHeadBoth(tokens);
        return (a + b) * 0.5f;
    }

    private (Tensor Logits, Tensor DistLogits) ForwardHeadBoth(Tensor tokens)
    {
        var x = HeadDrop.Forward(Pool(tokens, 0));
        var xd = HeadDrop.Forward(Pool(tokens, 1));
        return (Head.Forward(x), HeadDist!.Forward(xd));
    }

    /// <summary>Logits (B, classes), features (B, D) when num_classes = 0. Distilled models average both heads.</summary>
    public override Tensor Forward(Tensor x) => ForwardHead(ForwardFeatures(x));

    /// <summary>Training forward: distilled models return the class-token and distillation-token logits separately
    /// (for the distillation loss); other models return (logits, null).</summary>
    public (Tensor Logits, Tensor? DistLogits) ForwardTrain(Tensor x)
    {
        var tokens = ForwardFeatures(x);
        if (HeadDist == null) return (ForwardHead(tokens), null);
        var (a, b) = ForwardHeadBoth(tokens);
        return (a, b);
    }

    /// <summary>
    /// Forward that also returns every block's attention probabilities, for attention maps / rollout: per block
    /// (B, N, N) when <paramref name="averageHeads"/>, else (B, H, N, N). Rows and columns are tokens in model
    /// order (prefix tokens first, then the patch grid row-major).
    /// </summary>
    public (Tensor Output, IReadOnlyList<Tensor> Attentions) ForwardWithAttention(Tensor x, bool averageHeads = true)
    {
        x = Embed(x);
        var maps = new List<Tensor>(Blocks.Count);
        foreach (var m in Blocks.Items)
        {
            var (y, probs) = ((Block)m).ForwardWithProbs(x);
            maps.Add(averageHeads ? probs.Mean(1) : probs);
            x = y;
        }
        return (ForwardHead(Norm.Forward(x)), maps);
    }

    // ------------------------------------------------------------------ utilities

    /// <summary>Replaces the head (and distillation head) with fresh ones for <paramref name="numClasses"/>
    /// (0 = features only), initialised like timm (trunc-normal 0.02, zero bias).</summary>
    public void ResetClassifier(int numClasses, Rng? rng = null, GlobalPool? globalPool = null)
    {
        if (numClasses < 0) throw new VitException($"reset_classifier: num_classes {numClasses} must be >= 0");
        var cfg = Config with { NumClasses = numClasses, GlobalPool = globalPool ?? Config.GlobalPool };
        if (cfg.GlobalPool != Config.GlobalPool && cfg.UseFcNorm != Config.UseFcNorm)
            throw new VitException($"reset_classifier: switching pooling to '{cfg.GlobalPool}' would move the final LayerNorm (fc_norm rule); build the model with that pooling instead");
        Config = cfg.Validate();
        rng ??= new Rng(0x5EED);
        Head = RegisterModule("head", MakeHead(NumFeatures, numClasses, rng));
        if (HeadDist != null) HeadDist = RegisterModule("head_dist", MakeHead(NumFeatures, numClasses, rng));
        if (!Training) Eval();
    }

    /// <summary>Parameter names excluded from weight decay: pos_embed, cls_token, dist_token, and every 1-D
    /// parameter (biases, norm scales), as timm's optimizer factory does.</summary>
    public IReadOnlyList<string> NoWeightDecayNames() =>
        [.. NamedParameterObjects().Where(e => e.Param.NoWeightDecay || e.Param.Value.Rank <= 1).Select(e => e.Name)];

    /// <summary>Multiply-accumulates for one image (see <see cref="ModelZoo.MacsPerImage"/>).</summary>
    public long MacsPerImage() => ModelZoo.MacsPerImage(Config);

    /// <summary>Floating-point operations for one image: 2 × <see cref="MacsPerImage"/>.</summary>
    public double FlopsPerImage() => 2.0 * MacsPerImage();

    /// <summary>Pre-logits (representation) layer of the original in21k checkpoints: Linear + Tanh, keys pre_logits.fc.*.</summary>
    public sealed class PreLogitsLayer : Module
    {
        public Linear Fc { get; }

        public PreLogitsLayer(int inFeatures, int outFeatures, Rng? rng)
        {
            Fc = RegisterModule("fc", new Linear(inFeatures, outFeatures, true, rng));
            RegisterModule("act", new Nn.Tanh());
        }

        public override Tensor Forward(Tensor x) => F.Tanh(Fc.Forward(x));
    }
}
