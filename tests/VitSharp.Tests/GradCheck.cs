using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Tests;

/// <summary>
/// Finite-difference gradient check shared by all op tests: compares the analytic gradient of
/// L = Σ f(inputs) ⊙ W (W random, fixed) with central differences taken in float32 on each input element.
/// </summary>
public static class GradCheck
{
    /// <param name="f">The function under test; it must be deterministic (re-seed any Rng inside).</param>
    /// <param name="inputs">Leaf tensors; those with RequiresGrad are checked.</param>
    public static void Check(Func<Tensor[], Tensor> f, Tensor[] inputs, float eps = 1e-2f, float atol = 2e-3f, float rtol = 2e-2f, int seed = 1234)
    {
        var output = f(inputs);
        var rng = new Rng((ulong)seed);
        var w = Tensor.Empty(output.Shape);
        var ws = w.AsSpan();
        for (int i = 0; i < ws.Length; i++) ws[i] = (float)rng.NextGaussian();

        foreach (var x in inputs) x.Grad = null;
        Weighted(output, w).Backward();

        for (int n = 0; n < inputs.Length; n++)
        {
            var x = inputs[n];
            if (!x.RequiresGrad) continue;
            Assert.True(x.Grad != null, $"input {n}: no gradient was computed");
            var analytic = x.Grad!.ToArray();
            var data = x.Storage.Data;
            int[] offsets = ElementOffsets(x);
            for (int i = 0; i < offsets.Length; i++)
            {
                int o = offsets[i];
                float saved = data[o];
                double lp, lm;
                using (Graph.NoGrad())
                {
                    data[o] = saved + eps;
                    lp = Loss(f(inputs), w);
                    data[o] = saved - eps;
                    lm = Loss(f(inputs), w);
                }
                data[o] = saved;
                double numeric = (lp - lm) / (2 * eps);
                double diff = Math.Abs(numeric - analytic[i]);
                Assert.True(diff <= atol + rtol * Math.Abs(numeric),
                    $"input {n} element {i}: analytic {analytic[i]:G6} vs numeric {numeric:G6} (diff {diff:G3})");
            }
        }
    }

    private static Tensor Weighted(Tensor output, Tensor w)
    {
        // Σ out ⊙ w, built from primitive ops so it does not depend on the op under test.
        return Tensor.Mul(output, w).Sum();
    }

    private static double Loss(Tensor output, Tensor w)
    {
        var o = output.ToArray();
        var ws = w.AsSpan();
        double s = 0;
        for (int i = 0; i < o.Length; i++) s += (double)o[i] * ws[i];
        return s;
    }

    private static int[] ElementOffsets(Tensor x)
    {
        var r = new int[x.Numel];
        int k = 0, rank = x.Rank;
        if (rank == 0) return [x.Offset];
        var idx = new int[rank];
        for (int n = 0; n < x.Numel; n++)
        {
            int o = x.Offset;
            for (int d = 0; d < rank; d++) o += idx[d] * x.Strides[d];
            r[k++] = o;
            for (int d = rank - 1; d >= 0; d--)
            {
                if (++idx[d] < x.Shape[d]) break;
                idx[d] = 0;
            }
        }
        return r;
    }

    /// <summary>A leaf tensor with values in [-1, 1) that requires grad.</summary>
    public static Tensor Leaf(Rng rng, params int[] shape)
    {
        var t = Tensor.Empty(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextFloat() * 2 - 1;
        t.RequiresGrad = true;
        return t;
    }
}
