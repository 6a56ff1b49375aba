using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Dropout and DropPath (stochastic depth); both deterministic for a given Rng state.</summary>
internal static class NnDropout
{
    // Used when a caller trains with dropout but passes no generator: deterministic per process start.
    private static readonly Rng Fallback = new(0x5EED);
    private static readonly Lock FallbackGate = new();

    internal static ulong NextSeed(Rng? rng)
    {
        if (rng != null) return rng.NextUInt64();
        lock (FallbackGate) return Fallback.NextUInt64();
    }

    private static void CheckP(float p, string op)
    {
        if (!(p >= 0 && p <= 1)) throw new ArgumentOutOfRangeException(nameof(p), $"{op}: probability {p} is outside [0, 1]");
    }

    public static Tensor Dropout(Tensor x, float p, bool training, Rng? rng)
    {
        CheckP(p, "dropout");
        if (!training || p == 0) return x;
        ulong seed = NextSeed(rng);
        var xd = NnUtil.Dense(x);
        var y = Tensor.Empty(x.Shape);
        Kernels.Dropout.Apply(NnUtil.Span(xd), y.AsSpan(), p, seed);
        if (Graph.NeedsGrad(x)) Graph.Record(y, new DropoutNode(x, p, seed));
        return y;
    }

    private sealed class DropoutNode(Tensor x, float p, ulong seed) : GradNode(x)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            var g = NnUtil.Dense(grad);
            var dx = Tensor.Empty(Inputs[0].Shape);
            Kernels.Dropout.Apply(NnUtil.Span(g), dx.AsSpan(), p, seed);
            return [dx];
        }
    }

    public static Tensor DropPath(Tensor x, float p, bool training, Rng? rng)
    {
        CheckP(p, "drop_path");
        if (!training || p == 0) return x;
        if (x.Rank == 0) throw new ShapeException($"drop_path: input {x.ShapeString} has no sample dimension");
        int n = x.Shape[0];
        var scale = new float[n];
        float keep = 1f - p;
        for (int i = 0; i < n; i++)
        {
            float u = rng != null ? rng.NextFloat() : (NextSeed(null) >> 40) * (1f / (1 << 24));
            scale[i] = u >= p && keep > 0 ? 1f / keep : 0f;
        }
        var y = Scale(x, scale);
        if (Graph.NeedsGrad(x)) Graph.Record(y, new DropPathNode(x, scale));
        return y;
    }

    private static Tensor Scale(Tensor x, float[] scale)
    {
        var xd = NnUtil.Dense(x);
        var y = Tensor.Empty(x.Shape);
        int per = scale.Length == 0 ? 0 : x.Numel / scale.Length;
        var xs = NnUtil.Span(xd);
        var ys = y.AsSpan();
        for (int i = 0; i < scale.Length; i++)
            System.Numerics.Tensors.TensorPrimitives.Multiply(xs.Slice(i * per, per), scale[i], ys.Slice(i * per, per));
        return y;
    }

    private sealed class DropPathNode(Tensor x, float[] scale) : GradNode(x)
    {
        public override Tensor?[] Backward(Tensor grad) => [Scale(grad, scale)];
    }
}
