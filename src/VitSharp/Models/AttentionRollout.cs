using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Models;

/// <summary>
/// Attention rollout (Abnar &amp; Zuidema 2020): per block, heads are averaged, the identity is added for the
/// residual path (A' = ½A + ½I), rows are re-normalised, and the blocks' matrices are multiplied from the first
/// to the last. The row of the first prefix token (or the mean over tokens for a model without one) over the
/// patch tokens is the map of where the prediction looked.
/// </summary>
public static class AttentionRollout
{
    /// <summary>Returns the output logits and one (gridRows × gridCols) map per image, scaled to [0, 1].</summary>
    public static (Tensor Logits, float[][] Maps) Compute(VisionTransformer model, Tensor images)
    {
        using var noGrad = Graph.NoGrad();
        var (logits, attentions) = model.ForwardWithAttention(images, averageHeads: true);
        int batch = images.Shape[0];
        var (rows, cols) = model.Config.Grid;
        int prefix = model.NumPrefixTokens;
        var maps = new float[batch][];
        for (int b = 0; b < batch; b++)
        {
            double[,]? rollout = null;
            foreach (var att in attentions)
            {
                var a = ResidualNormalised(att.Select(0, b));
                rollout = rollout == null ? a : Multiply(a, rollout);
            }
            int n = rollout!.GetLength(0);
            var map = new float[rows * cols];
            for (int p = 0; p < map.Length; p++)
            {
                double v = 0;
                if (prefix > 0) v = rollout[0, prefix + p];
                else
                {
                    for (int i = 0; i < n; i++) v += rollout[i, p];
                    v /= n;
                }
                map[p] = (float)v;
            }
            maps[b] = ScaleToUnit(map);
        }
        return (logits, maps);
    }

    /// <summary>½A + ½I with each row summing to one, in double precision.</summary>
    internal static double[,] ResidualNormalised(Tensor attention)
    {
        int n = attention.Shape[0];
        if (attention.Rank != 2 || attention.Shape[1] != n)
            throw new ShapeException($"attention rollout: expected a square (N, N) attention matrix, got {attention.ShapeString}");
        var src = attention.Contiguous().AsSpan();
        var a = new double[n, n];
        for (int i = 0; i < n; i++)
        {
            double sum = 0;
            for (int j = 0; j < n; j++)
            {
                double v = 0.5 * src[i * n + j] + (i == j ? 0.5 : 0);
                a[i, j] = v;
                sum += v;
            }
            for (int j = 0; j < n; j++) a[i, j] /= sum;
        }
        return a;
    }

    private static double[,] Multiply(double[,] a, double[,] b)
    {
        int n = a.GetLength(0);
        var r = new double[n, n];
        for (int i = 0; i < n; i++)
            for (int k = 0; k < n; k++)
            {
                double aik = a[i, k];
                if (aik == 0) continue;
                for (int j = 0; j < n; j++) r[i, j] += aik * b[k, j];
            }
        return r;
    }

    private static float[] ScaleToUnit(float[] map)
    {
        float lo = float.MaxValue, hi = float.MinValue;
        foreach (var v in map) { lo = Math.Min(lo, v); hi = Math.Max(hi, v); }
        float range = hi - lo;
        for (int i = 0; i < map.Length; i++) map[i] = range > 0 ? (map[i] - lo) / range : 0f;
        return map;
    }
}
