using VitSharp.Tensors;

namespace VitSharp.Tests.Tensors;

/// <summary>Random tensors in several memory layouts and naive index-based references for op tests.</summary>
public static class OpTestUtil
{
    public static Tensor Rand(Rng rng, params int[] shape)
    {
        var t = Tensor.Empty(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = rng.NextFloat() * 2 - 1;
        return t;
    }

    /// <summary>Positive values in [lo, hi) (log/sqrt/div inputs).</summary>
    public static Tensor RandPos(Rng rng, float lo, float hi, params int[] shape)
    {
        var t = Tensor.Empty(shape);
        var s = t.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = lo + rng.NextFloat() * (hi - lo);
        return t;
    }

    /// <summary>The same logical tensor laid out contiguously, permuted in memory, and narrowed out of a wider tensor.</summary>
    public static IEnumerable<(string layout, Tensor t)> Layouts(Tensor dense, Rng rng)
    {
        yield return ("contiguous", dense);
        int rank = dense.Rank;
        if (rank >= 2)
        {
            // Store with reversed dims, then permute back: same values, non-contiguous strides.
            var rev = new int[rank];
            for (int i = 0; i < rank; i++) rev[i] = rank - 1 - i;
            var stored = dense.Permute(rev).Contiguous();
            yield return ("permuted", stored.Permute(rev));
        }
        if (rank >= 1)
        {
            var wide = (int[])dense.Shape.Clone();
            wide[^1] += 3;
            var w = Rand(rng, wide);
            var view = w.Narrow(-1, 2, dense.Shape[^1]);
            view.CopyFrom(dense);
            yield return ("narrowed", view);
        }
    }

    /// <summary>Logical row-major multi-indices of a shape.</summary>
    public static IEnumerable<int[]> Indices(int[] shape)
    {
        int n = 1;
        foreach (var d in shape) n *= d;
        var idx = new int[shape.Length];
        for (int e = 0; e < n; e++)
        {
            yield return (int[])idx.Clone();
            for (int k = shape.Length - 1; k >= 0; k--)
            {
                if (++idx[k] < shape[k]) break;
                idx[k] = 0;
            }
        }
    }

    /// <summary>Element of t at the broadcast position idx (idx has the output's rank).</summary>
    public static float AtBroadcast(Tensor t, int[] idx)
    {
        int lead = idx.Length - t.Rank;
        var ti = new int[t.Rank];
        for (int i = 0; i < t.Rank; i++) ti[i] = t.Shape[i] == 1 ? 0 : idx[i + lead];
        return t[ti];
    }

    public static void AssertClose(float expected, float actual, double rtol, double atol, string what)
    {
        if (float.IsNaN(expected) && float.IsNaN(actual)) return;
        if (expected == actual) return;
        double diff = Math.Abs((double)expected - actual);
        Assert.True(diff <= atol + rtol * Math.Abs(expected), $"{what}: expected {expected:G9}, got {actual:G9} (diff {diff:G3})");
    }

    public static void AssertClose(float[] expected, Tensor actual, double rtol, double atol, string what)
    {
        var a = actual.ToArray();
        Assert.Equal(expected.Length, a.Length);
        for (int i = 0; i < a.Length; i++) AssertClose(expected[i], a[i], rtol, atol, $"{what} [{i}]");
    }

    public static readonly global::VitSharp.Kernels.SimdLevel[] Levels = [global::VitSharp.Kernels.SimdLevel.Scalar, global::VitSharp.Kernels.SimdLevel.Vector256, global::VitSharp.Kernels.SimdLevel.Vector512];

    /// <summary>Runs body at every SIMD level the machine supports (lower levels are forced).</summary>
    public static void AtEachLevel(Action<global::VitSharp.Kernels.SimdLevel> body)
    {
        foreach (var l in Levels)
        {
            if (l > global::VitSharp.Kernels.Cpu.Detected) continue;
            global::VitSharp.Kernels.Cpu.With(l, () => body(l));
        }
    }
}
