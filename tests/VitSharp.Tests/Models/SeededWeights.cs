using VitSharp.Nn;
using VitSharp.Tensors;

namespace VitSharp.Tests.Models;

/// <summary>
/// Weights from an integer hash of (tensor number, element index), the same formula as
/// scripts/make_model_fixtures.py's formula_values, so a ViT-B/16-sized parity case needs no weight file.
/// </summary>
internal static class SeededWeights
{
    public static double Value(int t, long i)
    {
        const ulong M = 0xFFFFFFFF;
        ulong u = ((ulong)i * 2654435761UL + (((ulong)(t + 1) * 0x9E3779B9UL) & M)) & M;
        u ^= u >> 15;
        u = (u * 0x85EBCA6BUL) & M;
        u ^= u >> 13;
        u = (u * 0xC2B2AE35UL) & M;
        u ^= u >> 16;
        return u / 4294967296.0 - 0.5;
    }

    /// <summary>Tensor number <paramref name="t"/> (its place in the state dict) of this name and shape, scaled as
    /// formula_tensor does: tokens/positions raw, kernels by fan-in, norm weights around 1, biases small.</summary>
    public static float[] Values(int t, string name, ReadOnlySpan<int> shape)
    {
        long total = 1;
        foreach (var d in shape) total *= d;
        int n = checked((int)total);
        Func<double, double> map =
            name is "cls_token" or "pos_embed" or "dist_token" ? r => r
            : shape.Length >= 2 ? ScaleBy(2.0 * Math.Sqrt(3.0 / (n / shape[0])))
            : name.EndsWith("weight", StringComparison.Ordinal) ? r => 1.0 + 0.4 * r
            : r => 0.2 * r;
        var v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float)map(Value(t, i));
        return v;
    }

    public static void Fill(Module model)
    {
        int t = 0;
        foreach (var (name, p) in model.StateDict())
            Values(t++, name, p.Shape).CopyTo(p.AsSpan());
    }

    private static Func<double, double> ScaleBy(double k) => r => r * k;

    public static Tensor Input(int h, int w)
    {
        var x = Tensor.Empty(1, 3, h, w);
        var s = x.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = (float)(Value(100000, i) * 4.0);
        return x;
    }
}
