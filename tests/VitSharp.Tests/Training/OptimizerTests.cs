using System.Text.Json;
using VitSharp.Kernels;
using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Tests.Training;

[Collection(SerialCollection.Name)]
public class OptimizerTests
{
    public static TheoryData<string> Cases() => new(Fixtures.OptimRoot.GetProperty("optimizers").EnumerateArray().Select(c => c.GetProperty("name").GetString()!));

    private static JsonElement Case(string name) =>
        Fixtures.OptimRoot.GetProperty("optimizers").EnumerateArray().First(c => c.GetProperty("name").GetString() == name);

    private static List<(string Name, Tensor Param)> MakeParams(JsonElement c)
    {
        var list = new List<(string, Tensor)>();
        foreach (var p in c.GetProperty("params").EnumerateObject())
        {
            var t = Tensor.FromArray(Fixtures.Floats(p.Value.GetProperty("init")), Fixtures.Ints(p.Value.GetProperty("shape")));
            t.RequiresGrad = p.Value.GetProperty("requires_grad").GetBoolean();
            list.Add((p.Name, t));
        }
        return list;
    }

    private static Optimizer MakeOptimizer(JsonElement c, List<(string Name, Tensor Param)> ps)
    {
        var o = c.GetProperty("options");
        double lr = o.GetProperty("lr").GetDouble();
        // The fixture's torch groups include frozen params (torch skips them since they get no grad).
        var groups = ParamGroups.WithNoDecay(ps, c.GetProperty("weight_decay").GetDouble(), includeFrozen: true);
        double Opt(string k, double d) => o.TryGetProperty(k, out var v) ? v.GetDouble() : d;
        bool OptB(string k) => o.TryGetProperty(k, out var v) && v.GetBoolean();
        if (c.GetProperty("optimizer").GetString() == "sgd")
            return new Sgd(groups, lr, Opt("momentum", 0), Opt("dampening", 0), OptB("nesterov"));
        var betas = o.TryGetProperty("betas", out var b) ? Fixtures.Floats(b).Select(x => (double)x).ToArray() : [0.9, 0.999];
        // Betas are Python doubles in the fixture; read them as doubles for exact agreement.
        if (o.TryGetProperty("betas", out var bb)) betas = [.. bb.EnumerateArray().Select(x => x.GetDouble())];
        return new AdamW(groups, lr, betas[0], betas[1], Opt("eps", 1e-8), OptB("amsgrad"));
    }

    private static void RunSteps(JsonElement c, Optimizer opt, List<(string Name, Tensor Param)> ps, int from, int to)
    {
        var steps = c.GetProperty("steps").EnumerateArray().ToArray();
        for (int s = from; s < to; s++)
        {
            opt.SetLr(steps[s].GetProperty("lr").GetDouble());
            foreach (var (name, p) in ps)
            {
                var g = steps[s].GetProperty("grads").GetProperty(name);
                p.Grad = g.ValueKind == JsonValueKind.Null ? null : Tensor.FromArray(Fixtures.Floats(g), p.Shape);
            }
            opt.Step();
            foreach (var (name, p) in ps)
                Fixtures.AssertClose(Fixtures.Floats(steps[s].GetProperty("after").GetProperty(name)), p.ToArray(), 1e-7f, 1e-6f, $"{c.GetProperty("name").GetString()} step {s} {name}");
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Trajectory_matches_torch(string name)
    {
        var c = Case(name);
        var ps = MakeParams(c);
        var opt = MakeOptimizer(c, ps);
        int n = c.GetProperty("steps").GetArrayLength();
        RunSteps(c, opt, ps, 0, n);

        // Final per-parameter state (step counts and buffers) equals torch's.
        foreach (var (pname, p) in ps)
        {
            var st = c.GetProperty("final_state").GetProperty(pname);
            long expectedStep = st.TryGetProperty("step", out var se) ? se.GetInt64() : 0;
            if (opt is AdamW) Assert.Equal(expectedStep, opt.StepOf(p));
            foreach (var buf in st.EnumerateObject().Where(x => x.Name != "step"))
                Fixtures.AssertClose(Fixtures.Floats(buf.Value), opt.BufferOf(p, buf.Name)!.ToArray(), 1e-7f, 1e-6f, $"{name} {pname}.{buf.Name}");
        }
        Assert.Equal(0, opt.StepOf(ps.First(x => x.Name == "frozen.weight").Param));
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Resume_from_exported_state_continues_the_trajectory(string name)
    {
        var c = Case(name);
        int n = c.GetProperty("steps").GetArrayLength();
        var ps = MakeParams(c);
        var opt = MakeOptimizer(c, ps);
        RunSteps(c, opt, ps, 0, 3);
        var saved = opt.ExportState();

        // A fresh model + optimiser, loaded from the saved weights and state, must continue exactly.
        var ps2 = MakeParams(c);
        for (int i = 0; i < ps.Count; i++) ps2[i].Param.CopyFrom(ps[i].Param);
        var opt2 = MakeOptimizer(c, ps2);
        opt2.ImportState(saved);
        RunSteps(c, opt2, ps2, 3, n);
    }

    [Fact]
    public void Simd_paths_agree_bit_for_bit_with_scalar()
    {
        float[] Run(SimdLevel level, bool adam)
        {
            float[] result = [];
            Cpu.With(level, () =>
            {
                var rng = new Rng(3);
                var p = Tensor.RandN(new Random(1), 1f, 3, 37, 1001); // odd size: SIMD body + scalar tail, several chunks
                p.RequiresGrad = true;
                var ps = new List<(string, Tensor)> { ("w", p) };
                Optimizer opt = adam
                    ? new AdamW(ParamGroups.Single(ps, 0.1), 0.01, amsgrad: true)
                    : new Sgd(ParamGroups.Single(ps, 0.01), 0.1, momentum: 0.9, nesterov: true);
                for (int s = 0; s < 3; s++)
                {
                    var g = Tensor.Empty(p.Shape);
                    var gs = g.AsSpan();
                    for (int i = 0; i < gs.Length; i++) gs[i] = (float)rng.NextGaussian();
                    p.Grad = g;
                    opt.Step();
                }
                result = p.ToArray();
            });
            return result;
        }
        foreach (bool adam in new[] { false, true })
        {
            var scalar = Run(SimdLevel.Scalar, adam);
            Assert.Equal(scalar, Run(SimdLevel.Vector256, adam));
            Assert.Equal(scalar, Run(SimdLevel.Vector512, adam));
        }
    }

    [Fact]
    public void No_decay_rule_covers_biases_norms_and_tokens()
    {
        var w = Tensor.Zeros(4, 4);
        var b = Tensor.Zeros(4);
        Assert.False(ParamGroups.IsNoDecay("blocks.0.attn.qkv.weight", w));
        Assert.True(ParamGroups.IsNoDecay("blocks.0.attn.qkv.bias", b));
        Assert.True(ParamGroups.IsNoDecay("norm.weight", b));
        Assert.True(ParamGroups.IsNoDecay("pos_embed", Tensor.Zeros(1, 197, 8)));
        Assert.True(ParamGroups.IsNoDecay("model.cls_token", Tensor.Zeros(1, 1, 8)));
        Assert.True(ParamGroups.IsNoDecay("dist_token", Tensor.Zeros(1, 1, 8)));

        var frozen = Tensor.Zeros(3, 3);
        var trainable = Tensor.Zeros(3, 3);
        trainable.RequiresGrad = true;
        b.RequiresGrad = true;
        var groups = ParamGroups.WithNoDecay([("frozen", frozen), ("head.weight", trainable), ("head.bias", b)], 0.05);
        Assert.Equal(2, groups.Count);
        Assert.Equal(["head.weight"], groups[0].Params.Select(x => x.Name));
        Assert.Equal(0.05, groups[0].WeightDecay);
        Assert.Equal(["head.bias"], groups[1].Params.Select(x => x.Name));
        Assert.Equal(0.0, groups[1].WeightDecay);
    }

    [Fact]
    public void Lr_scale_and_zero_grad()
    {
        var p = Tensor.Ones(2, 2);
        p.RequiresGrad = true;
        var groups = ParamGroups.Single([("w", p)], 0);
        groups[0].LrScale = 0.5;
        var opt = new Sgd(groups, 1.0);
        Assert.Equal(0.5, groups[0].Lr);
        p.Grad = Tensor.Ones(2, 2);
        opt.Step();
        Assert.All(p.ToArray(), x => Assert.Equal(0.5f, x));
        var g = p.Grad;
        opt.ZeroGrad();
        Assert.Same(g, p.Grad);
        Assert.All(p.Grad!.ToArray(), x => Assert.Equal(0f, x));
        opt.ZeroGrad(setToNull: true);
        Assert.Null(p.Grad);
        opt.Step(); // no grad: skipped
        Assert.All(p.ToArray(), x => Assert.Equal(0.5f, x));
    }

    [Fact]
    public void Import_rejects_wrong_optimizer_kind()
    {
        var p = Tensor.Ones(2);
        p.RequiresGrad = true;
        var sgd = new Sgd(ParamGroups.Single([("w", p)], 0), 0.1, momentum: 0.9);
        var adam = new AdamW(ParamGroups.Single([("w", p)], 0), 0.1);
        var ex = Assert.Throws<VitException>(() => adam.ImportState(sgd.ExportState()));
        Assert.Contains("sgd", ex.Message);
    }
}
