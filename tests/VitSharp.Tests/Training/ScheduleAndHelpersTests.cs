using VitSharp.Tensors;
using VitSharp.Training;

namespace VitSharp.Tests.Training;

public class ScheduleAndHelpersTests
{
    [Fact]
    public void Epoch_cosine_matches_torch_LambdaLR()
    {
        var f = Fixtures.OptimRoot.GetProperty("lambda_lr");
        int epochs = f.GetProperty("epochs").GetInt32();
        double lrf = f.GetProperty("lrf").GetDouble(), lr = f.GetProperty("lr").GetDouble();
        var expected = f.GetProperty("lrs_per_epoch").EnumerateArray().Select(x => x.GetDouble()).ToArray();
        var s = LrSchedule.EpochCosine(lr, epochs, stepsPerEpoch: 7, lrf);
        for (int e = 0; e < epochs; e++)
            for (int k = 0; k < 7; k++)
                Assert.Equal(expected[e], s.Lr(e * 7L + k), 15);
    }

    [Fact]
    public void Step_cosine_warms_up_linearly_then_decays_to_lrf()
    {
        var s = LrSchedule.StepCosine(0.1, epochs: 10, stepsPerEpoch: 10, lrf: 0.01, warmupSteps: 10, warmupStartFactor: 0);
        Assert.Equal(0.0, s.Lr(0), 15);
        Assert.Equal(0.05, s.Lr(5), 15);
        Assert.Equal(0.1, s.Lr(10), 15); // cosine starts at base
        Assert.Equal(0.1 * (0.01 + 0.99 * 0.5), s.Lr(10 + 45), 12); // half-way
        Assert.Equal(0.001, s.Lr(100), 12);
        Assert.Equal(0.001, s.Lr(1000), 12); // clamps past the end
        for (long t = 11; t < 100; t++) Assert.True(s.Lr(t) < s.Lr(t - 1));
    }

    [Fact]
    public void Constant_and_metadata_round_trip()
    {
        var c = LrSchedule.Constant(0.01, warmupSteps: 4, warmupStartFactor: 0.5);
        Assert.Equal(0.005, c.Lr(0), 15);
        Assert.Equal(0.01, c.Lr(4), 15);
        Assert.Equal(0.01, c.Lr(400), 15);
        var s = LrSchedule.EpochCosine(0.003, 7, 13, 0.02, warmupSteps: 5);
        Assert.Equal(s, LrSchedule.FromMetadata(s.ToMetadata()));
        Assert.Throws<VitException>(() => LrSchedule.EpochCosine(0.1, 0, 1, 0.1));
        Assert.Throws<VitException>(() => LrSchedule.StepCosine(0.1, 1, 1, 1.5));
    }

    [Fact]
    public void Clip_grad_norm_matches_torch()
    {
        foreach (var c in Fixtures.OptimRoot.GetProperty("clip").EnumerateArray())
        {
            var shapes = c.GetProperty("shapes").EnumerateArray().Select(Fixtures.Ints).ToArray();
            var grads = c.GetProperty("grads").EnumerateArray().Select(Fixtures.Floats).ToArray();
            var ps = new List<(string, Tensor)>();
            for (int i = 0; i < shapes.Length; i++)
            {
                var p = Tensor.Zeros(shapes[i]);
                p.RequiresGrad = true;
                p.Grad = Tensor.FromArray(grads[i], shapes[i]);
                ps.Add(($"p{i}", p));
            }
            double norm = GradClip.ClipByGlobalNorm(ps, c.GetProperty("max_norm").GetDouble());
            Assert.Equal(c.GetProperty("norm").GetDouble(), norm, 5);
            var clipped = c.GetProperty("clipped").EnumerateArray().Select(Fixtures.Floats).ToArray();
            for (int i = 0; i < ps.Count; i++)
                Fixtures.AssertClose(clipped[i], ps[i].Item2.Grad!.ToArray(), 1e-7f, 1e-6f, $"clip {i}");
        }
    }

    [Fact]
    public void Clip_leaves_gradients_alone_when_norm_is_not_finite()
    {
        var p = Tensor.Zeros(2);
        p.Grad = Tensor.FromArray([float.NaN, 1f]);
        Assert.True(double.IsNaN(GradClip.ClipByGlobalNorm([("p", p)], 1.0)));
        Assert.Equal(1f, p.Grad.ToArray()[1]);
    }

    [Fact]
    public void Ema_averages_trainable_weights_and_round_trips()
    {
        var w = Tensor.FromArray([0f, 10f]);
        w.RequiresGrad = true;
        var frozen = Tensor.FromArray([5f]);
        var ema = new Ema([("w", w), ("f", frozen)], decay: 0.9);
        w.CopyFrom(Tensor.FromArray([1f, 20f]));
        frozen.CopyFrom(Tensor.FromArray([7f]));
        ema.Update();
        Assert.Equal(0.1f, ema.Shadow[0].Shadow.ToArray()[0], 6);
        Assert.Equal(11f, ema.Shadow[0].Shadow.ToArray()[1], 5);
        Assert.Equal(7f, ema.Shadow[1].Shadow.ToArray()[0]);

        var (tensors, meta) = ema.ExportState();
        var ema2 = new Ema([("w", w), ("f", frozen)], decay: 0.9);
        ema2.ImportState(tensors, meta);
        Assert.Equal(1, ema2.Updates);
        Assert.Equal(ema.Shadow[0].Shadow.ToArray(), ema2.Shadow[0].Shadow.ToArray());

        var target = Tensor.Zeros(2);
        ema.CopyTo([("w", target)]);
        Assert.Equal(ema.Shadow[0].Shadow.ToArray(), target.ToArray());

        var warm = new Ema([("w", w)], decay: 0.9999, warmup: true);
        Assert.Equal(0.1, warm.CurrentDecay, 12);
    }

    [Fact]
    public void Early_stopping_counts_epochs_without_improvement()
    {
        var es = new EarlyStopping(patience: 2);
        Assert.True(es.Update(0, 0.5));
        Assert.True(es.Update(1, 0.6));
        Assert.False(es.Update(2, 0.6));
        Assert.False(es.ShouldStop);
        Assert.False(es.Update(3, 0.55));
        Assert.True(es.ShouldStop);
        Assert.Equal(1, es.BestEpoch);

        var loss = new EarlyStopping(patience: 1, higherIsBetter: false, minDelta: 0.01);
        loss.Update(0, 1.0);
        Assert.False(loss.Update(1, 0.995)); // not better by min delta
        Assert.True(loss.ShouldStop);

        var restored = new EarlyStopping(2);
        restored.LoadMetadata(es.ToMetadata());
        Assert.Equal(es.Best, restored.Best);
        Assert.True(restored.ShouldStop);
    }

    [Fact]
    public void Grad_accumulation_groups_and_scales()
    {
        var ga = new GradAccumulation(3);
        Assert.Equal(3, ga.UpdatesPerEpoch(7));
        bool[] steps = [.. Enumerable.Range(0, 7).Select(i => ga.IsUpdateStep(i, 7))];
        Assert.Equal([false, false, true, false, false, true, true], steps);
        Assert.Equal(1f / 3, ga.LossScale(0, 7));
        Assert.Equal(1f / 3, ga.LossScale(5, 7));
        Assert.Equal(1f, ga.LossScale(6, 7)); // last group holds one micro-batch
        Assert.Throws<VitException>(() => new GradAccumulation(0));
    }
}
