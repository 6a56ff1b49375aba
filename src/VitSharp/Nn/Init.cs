using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>
/// Weight initialisers (torch.nn.init / timm equivalents) drawing from a seeded <see cref="Rng"/>.
/// They write in place and are never recorded for autograd.
/// </summary>
public static class Init
{
    /// <summary>A zeroed tensor that outlives any open <see cref="TensorScope"/> (parameters live as long as the model).</summary>
    public static Tensor NewTensor(params int[] shape)
    {
        using var _ = TensorScope.Suspend();
        return Tensor.Zeros(shape);
    }

    public static void Constant(Tensor t, float value) => t.Fill_(value);

    public static void Zeros(Tensor t) => t.Fill_(0f);

    public static void Ones(Tensor t) => t.Fill_(1f);

    public static void Normal(Tensor t, Rng rng, double std, double mean = 0)
    {
        var s = t.AsSpan();
        var g = new GaussianPairs(rng);
        for (int i = 0; i < s.Length; i++) s[i] = (float)(mean + std * g.Next());
    }

    /// <summary>Box-Muller using both outputs of each draw (initialising ViT-L means hundreds of millions).</summary>
    private struct GaussianPairs(Rng rng)
    {
        private double spare;
        private bool hasSpare;

        public double Next()
        {
            if (hasSpare) { hasSpare = false; return spare; }
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
            spare = r * sin;
            hasSpare = true;
            return r * cos;
        }
    }

    public static void Uniform(Tensor t, Rng rng, double lo, double hi)
    {
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(lo + (hi - lo) * rng.NextDouble());
    }

    /// <summary>timm's trunc_normal_: N(mean, std²) restricted to the ABSOLUTE interval [a, b] (default ±2, which
    /// for std 0.02 is practically no truncation — the same quirk as timm), by rejection.</summary>
    public static void TruncNormal(Tensor t, Rng rng, double std, double mean = 0, double a = -2, double b = 2)
    {
        var s = t.AsSpan();
        var g = new GaussianPairs(rng);
        for (int i = 0; i < s.Length; i++)
        {
            double v;
            int tries = 0;
            do v = mean + std * g.Next();
            while ((v < a || v > b) && ++tries < 1000);
            s[i] = (float)Math.Clamp(v, a, b);
        }
    }

    /// <summary>Fan-in and fan-out as PyTorch computes them: (in·receptive, out·receptive).</summary>
    public static (int FanIn, int FanOut) Fans(Tensor w)
    {
        if (w.Rank < 2) return (w.Numel, w.Numel);
        int receptive = 1;
        for (int i = 2; i < w.Rank; i++) receptive *= w.Shape[i];
        return (w.Shape[1] * receptive, w.Shape[0] * receptive);
    }

    /// <summary>kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = sqrt(2 / fan_out).</summary>
    public static void KaimingNormalFanOut(Tensor w, Rng rng) => Normal(w, rng, Math.Sqrt(2.0 / Math.Max(1, Fans(w).FanOut)));

    /// <summary>PyTorch's default Linear/Conv init: kaiming_uniform_(a=√5) = U(±1/√fan_in) for weights,
    /// and U(±1/√fan_in) for the bias.</summary>
    public static void TorchDefault(Tensor weight, Tensor? bias, Rng rng)
    {
        double bound = 1.0 / Math.Sqrt(Math.Max(1, Fans(weight).FanIn));
        Uniform(weight, rng, -bound, bound);
        if (bias != null) Uniform(bias, rng, -bound, bound);
    }

    /// <summary>lecun_normal (JAX convs): truncated normal with variance 1/fan_in.</summary>
    public static void LecunNormal(Tensor w, Rng rng)
    {
        // jax's truncated_normal(stddev) rescales by 0.8796 so the truncated (±2σ) distribution has the right variance.
        double std = Math.Sqrt(1.0 / Math.Max(1, Fans(w).FanIn)) / 0.87962566103423978;
        TruncNormal(w, rng, std, 0, -2 * std, 2 * std);
    }
}
