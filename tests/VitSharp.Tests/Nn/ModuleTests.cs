using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Tests.Nn;

public class ModuleTests
{
    private sealed class Toy : Module
    {
        public Toy()
        {
            RegisterParameter("scale", new Parameter(Init.NewTensor(3), noWeightDecay: true));
            RegisterBuffer("steps", Tensor.Zeros(1));
            RegisterBuffer("cache", Tensor.Zeros(2), persistent: false);
            RegisterModule("fc", new Linear(4, 3, rng: new Rng(1)));
            RegisterModule("seq", new Sequential([new LayerNorm(3), new Dropout(0.5f), new Linear(3, 2, bias: false)]));
        }

        public override Tensor Forward(Tensor x) => x;
    }

    [Fact]
    public void Names_follow_pytorch_order()
    {
        var m = new Toy();
        Assert.Equal(["scale", "fc.weight", "fc.bias", "seq.0.weight", "seq.0.bias", "seq.2.weight"], m.NamedParameters().Select(p => p.Name));
        Assert.Equal(["scale", "steps", "fc.weight", "fc.bias", "seq.0.weight", "seq.0.bias", "seq.2.weight"], m.StateDict().Keys);
        Assert.Equal(3 + 12 + 3 + 3 + 3 + 6, m.ParameterCount());
        Assert.Equal(["", "fc", "seq", "seq.0", "seq.1", "seq.2"], m.NamedModules().Select(e => e.Name));
        Assert.All(m.Parameters(), p => Assert.True(p.RequiresGrad));
    }

    [Fact]
    public void Load_state_dict_strict_and_lenient()
    {
        var src = new Toy();
        var sd = src.StateDict().ToDictionary(kv => kv.Key, kv => kv.Value.Clone().Detach());
        sd["fc.weight"].Fill_(0.5f);
        var dst = new Toy();
        var keep = dst.StateDict()["fc.weight"];
        var report = dst.LoadStateDict(sd, strict: true);
        Assert.True(report.IsClean);
        Assert.Same(keep, dst.StateDict()["fc.weight"]); // copied in place
        Assert.All(keep.ToArray(), v => Assert.Equal(0.5f, v));

        sd.Remove("seq.0.bias");
        sd["extra.weight"] = Tensor.Zeros(2);
        sd["fc.bias"] = Tensor.Zeros(5);
        var e = Assert.Throws<VitException>(() => new Toy().LoadStateDict(sd, strict: true));
        Assert.Contains("fc.bias", e.Message, StringComparison.Ordinal);
        Assert.Contains("[3]", e.Message, StringComparison.Ordinal);
        Assert.Contains("[5]", e.Message, StringComparison.Ordinal);

        var r = new Toy().LoadStateDict(sd, strict: false);
        Assert.Equal(["seq.0.bias"], r.Missing);
        Assert.Equal(["extra.weight"], r.Unexpected);
        var mm = Assert.Single(r.Mismatched);
        Assert.Equal("fc.bias", mm.Key);
        Assert.Equal([3], mm.ModelShape);
        Assert.Equal([5], mm.SourceShape);
        Assert.Contains("[3]", mm.ToString(), StringComparison.Ordinal);

        sd["fc.bias"] = Tensor.Zeros(3);
        sd["seq.0.bias"] = Tensor.Zeros(3);
        e = Assert.Throws<VitException>(() => new Toy().LoadStateDict(sd, strict: true));
        Assert.Contains("unexpected", e.Message, StringComparison.Ordinal);
        Assert.Contains("extra.weight", e.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Freeze_train_eval_and_zero_grad()
    {
        var m = new Toy();
        Assert.Equal(2, m.Freeze(n => n.StartsWith("fc", StringComparison.Ordinal)));
        Assert.False(m.StateDict()["fc.weight"].RequiresGrad);
        Assert.True(m.StateDict()["seq.2.weight"].RequiresGrad);
        m.Eval();
        Assert.All(m.NamedModules(), e => Assert.False(e.Module.Training));
        m.Train();
        Assert.True(((Sequential)m.NamedChildren().Last().Child)[1].Training);
        foreach (var p in m.Parameters()) p.Grad = Tensor.Ones(p.Shape);
        m.ZeroGrad();
        Assert.All(m.Parameters(), p => Assert.Null(p.Grad));
    }

    [Fact]
    public void Same_padding_matches_tensorflow()
    {
        Assert.Equal((2, 3), Conv2d.SamePad(224, 7, 2));  // stem: total 5
        Assert.Equal((0, 1), Conv2d.SamePad(112, 3, 2));  // pool: asymmetric
        Assert.Equal((1, 1), Conv2d.SamePad(56, 3, 1));
        Assert.Equal((0, 0), Conv2d.SamePad(56, 1, 2));
        Assert.Equal((1, 1), Conv2d.SamePad(7, 3, 2));
        Assert.Equal(8, ResNetV2.MakeDiv(4));
        Assert.Equal(64, ResNetV2.MidChannels(256));
    }

    [Fact]
    public void Std_conv_standardises_each_output_channel()
    {
        var w = Tensor.FromArray([1f, 2f, 3f, 4f, -1f, 0f, 0f, 5f], 2, 1, 2, 2);
        var s = StdConv2d.Standardize(w, 1e-8f).ToArray();
        for (int o = 0; o < 2; o++)
        {
            var ch = s.AsSpan(o * 4, 4).ToArray();
            Assert.InRange(ch.Average(), -1e-6, 1e-6);
            Assert.InRange(ch.Average(v => v * v), 1 - 1e-5, 1 + 1e-5);
        }
    }

    [Fact]
    public void Invalid_layer_arguments_are_user_errors()
    {
        Assert.Throws<VitException>(() => new Attention(10, 3));
        Assert.Throws<VitException>(() => new GroupNorm(32, 48));
        Assert.Throws<VitException>(() => new Dropout(1.5f));
        Assert.Throws<VitException>(() => new PatchEmbed(30, 32, 16, 3, 8));
    }
}
