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

    public static void Fill(Module model)
    {
        int t = 0;
        foreach (var (name, p) in model.StateDict())
        {
            var s = p.AsSpan();
            int n = s.Length;
            Func<double, double> map =
                name is "cls_token" or "pos_embed" or "dist_token" ? r => r
                : p.Rank >= 2 ? ScaleBy(2.0 * Math.Sqrt(3.0 / (n / p.Shape[0])))
                : name.EndsWith("weight", StringComparison.Ordinal) ? r => 1.0 + 0.4 * r
                : r => 0.2 * r;
            for (int i = 0; i < n; i++) s[i] = (float)map(Value(t, i));
            t++;
        }
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
