using VitSharp.Autograd;
using VitSharp.Models;
using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Tests.Nn;

public class StochasticTests
{
    private static VitConfig Small => new()
    {
        ImgHeight = 16,
        ImgWidth = 16,
        PatchSize = 4,
        EmbedDim = 24,
        Depth = 4,
        NumHeads = 3,
        NumClasses = 5,
        DropRate = 0.1f,
        AttnDropRate = 0.1f,
        DropPathRate = 0.3f,
    };

    [Fact]
    public void Drop_path_rates_grow_linearly_over_depth()
    {
        var m = new VisionTransformer(Small);
        var rates = m.Blocks.Items.Cast<Block>().Select(b => b.DropPath1.P).ToArray();
        Assert.Equal([0f, 0.1f, 0.2f, 0.3f], rates.Select(r => MathF.Round(r, 6)));
        Assert.All(m.Blocks.Items.Cast<Block>(), b => Assert.Equal(b.DropPath1.P, b.DropPath2.P));
        Assert.Equal(0.1f, m.PosDrop.P);
        Assert.Equal(0.1f, ((Block)m.Blocks[0]).Attn.AttnDropRate);
    }

    [Fact]
    public void Training_noise_is_seeded_and_eval_is_deterministic()
    {
        var x = Tensor.RandN(new Random(1), 1f, 4, 3, 16, 16);
        Tensor Run(ulong seed, bool train)
        {
            var m = new VisionTransformer(Small, new Rng(7));
            m.SetRng(new Rng(seed));
            m.Train(train);
            using var _ = Graph.NoGrad();
            return m.Forward(x);
        }
        var a = Run(1, true).ToArray();
        var b = Run(1, true).ToArray();
        var c = Run(2, true).ToArray();
        var e1 = Run(1, false).ToArray();
        var e2 = Run(2, false).ToArray();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.NotEqual(a, e1);
        Assert.Equal(e1, e2);
    }

    [Fact]
    public void Dropout_layers_are_identity_in_eval()
    {
        var x = Tensor.RandN(new Random(2), 1f, 3, 5);
        var d = new Dropout(0.5f) { Generator = new Rng(1) };
        var p = new DropPath(0.5f) { Generator = new Rng(1) };
        d.Eval();
        p.Eval();
        Assert.Same(x, d.Forward(x));
        Assert.Same(x, p.Forward(x));
    }
}
