using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>Gradient clipping by global L2 norm (torch.nn.utils.clip_grad_norm_).</summary>
public static class GradClip
{
    /// <summary>L2 norm over the gradients of all parameters that have one (sums of squares in double).</summary>
    public static double GlobalNorm(IEnumerable<(string Name, Tensor Param)> parameters)
    {
        double sum = 0;
        foreach (var (_, p) in parameters)
        {
            if (p.Grad is not { } g) continue;
            var s = g.Contiguous().AsSpan();
            // Chunks keep float accumulation short; chunk sums add up in double.
            for (int i = 0; i < s.Length; i += 4096)
                sum += TensorPrimitives.SumOfSquares<float>(s.Slice(i, Math.Min(4096, s.Length - i)));
        }
        return Math.Sqrt(sum);
    }

    /// <summary>
    /// Scales all gradients by min(1, maxNorm / (norm + 1e-6)) and returns the norm before clipping. A non-finite
    /// norm is returned without touching the gradients (the trainer stops on it rather than poisoning weights).
    /// </summary>
    public static double ClipByGlobalNorm(IEnumerable<(string Name, Tensor Param)> parameters, double maxNorm)
    {
        if (!(maxNorm > 0)) throw new VitException($"clip-grad: max norm {maxNorm} must be > 0");
        var list = parameters as IReadOnlyList<(string Name, Tensor Param)> ?? [.. parameters];
        double norm = GlobalNorm(list);
        if (!double.IsFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1)
        {
            float c = (float)coef;
            foreach (var (_, p) in list)
            {
                if (p.Grad is not { } g) continue;
                if (!g.IsContiguous) p.Grad = g = g.Contiguous();
                var s = g.AsSpan();
                TensorPrimitives.Multiply(s, c, s);
            }
        }
        return norm;
    }
}
