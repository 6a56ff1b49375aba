using VitSharp.Kernels;
using VitSharp.Tensors;
using VitSharp.Tests.Functional;

namespace VitSharp.Tests.Kernels;

/// <summary>
/// The fused attention kernel on the layouts the planned paths use (q, k, v as column blocks of strided rows,
/// o merged, dq/dk/dv written strided) against a double-precision reference: odd token counts around the tile
/// and micro-kernel sizes, cross lengths, head dims that are and are not lane multiples, dropout, every SIMD level.
/// </summary>
[Collection("NnGlobalState")]
public unsafe class AttentionKernelTests
{
    /// <summary>Operands of one test case: q rows (token stride ldq, padded), k and v interleaved in kv rows.</summary>
    private sealed class Case
    {
        public int B, H, Nq, Nk, Dh, Ldq, Ldkv, Ldo;
        public float[] Q = [], KV = [], G = [];
        public float Scale, P;
        public ulong Seed;

        public AttentionStrides Qs => new((long)Nq * Ldq, Dh, Ldq);
        public AttentionStrides KVs => new((long)Nk * Ldkv, Dh, Ldkv);
        public AttentionStrides Os => new((long)Nq * Ldo, Dh, Ldo);
        public int D => H * Dh;
        public double QAt(int b, int h, int i, int d) => Q[(long)b * Nq * Ldq + i * Ldq + h * Dh + d];
        public double KAt(int b, int h, int j, int d) => KV[(long)b * Nk * Ldkv + j * Ldkv + h * Dh + d];
        public double VAt(int b, int h, int j, int d) => KV[(long)b * Nk * Ldkv + j * Ldkv + D + h * Dh + d];
        public double GAt(int b, int h, int i, int d) => G[(long)b * Nq * Ldo + i * Ldo + h * Dh + d];
    }

    private static Case Make(int b, int h, int nq, int nk, int dh, float p, int seed)
    {
        var rng = new Rng((ulong)seed);
        int d = h * dh;
        var c = new Case { B = b, H = h, Nq = nq, Nk = nk, Dh = dh, Ldq = d + 3, Ldkv = 2 * d + 1, Ldo = d, Scale = 1f / MathF.Sqrt(dh), P = p, Seed = 0x1234567 + (ulong)seed };
        c.Q = NnTestUtil.Rand(rng, b * nq * c.Ldq, -2, 2);
        c.KV = NnTestUtil.Rand(rng, b * nk * c.Ldkv, -2, 2);
        c.G = NnTestUtil.Rand(rng, b * nq * c.Ldo, -1, 1);
        return c;
    }

    /// <summary>Reference forward and backward in double: o, lse, dq, dk, dv (contiguous per head).</summary>
    private static (double[] O, double[] Lse, double[] Dq, double[] Dk, double[] Dv) Reference(Case c)
    {
        int nq = c.Nq, nk = c.Nk, dh = c.Dh;
        var o = new double[c.B * c.H * nq * dh];
        var lse = new double[c.B * c.H * nq];
        var dq = new double[o.Length];
        var dk = new double[c.B * c.H * nk * dh];
        var dv = new double[dk.Length];
        uint thr = Attention.DropThreshold(c.P);
        double keep = c.P > 0 ? 1.0 / (1 - c.P) : 1;
        var pr = new double[nk];
        var mk = new double[nk];
        var dp = new double[nk];
        for (int b = 0; b < c.B; b++)
            for (int h = 0; h < c.H; h++)
            {
                long bh = (long)b * c.H + h;
                for (int i = 0; i < nq; i++)
                {
                    double m = double.NegativeInfinity, sum = 0;
                    for (int j = 0; j < nk; j++)
                    {
                        double s = 0;
                        for (int d = 0; d < dh; d++) s += c.QAt(b, h, i, d) * c.KAt(b, h, j, d);
                        pr[j] = s * c.Scale;
                        m = Math.Max(m, pr[j]);
                    }
                    for (int j = 0; j < nk; j++) { pr[j] = Math.Exp(pr[j] - m); sum += pr[j]; }
                    lse[bh * nq + i] = m + Math.Log(sum);
                    for (int j = 0; j < nk; j++)
                    {
                        pr[j] /= sum;
                        mk[j] = c.P > 0 ? (Attention.Keep(c.Seed, bh, i, j, thr) ? keep : 0) : 1;
                    }
                    long oi = (bh * nq + i) * dh;
                    for (int d = 0; d < dh; d++)
                    {
                        double acc = 0;
                        for (int j = 0; j < nk; j++) acc += pr[j] * mk[j] * c.VAt(b, h, j, d);
                        o[oi + d] = acc;
                    }
                    // Backward: dP̃ = dO·Vᵀ, dP = dP̃∘M, D = Σ dO∘O, dS = P∘(dP − D).
                    double dd = 0;
                    for (int d = 0; d < dh; d++) dd += c.GAt(b, h, i, d) * o[oi + d];
                    for (int j = 0; j < nk; j++)
                    {
                        double acc = 0;
                        for (int d = 0; d < dh; d++) acc += c.GAt(b, h, i, d) * c.VAt(b, h, j, d);
                        dp[j] = pr[j] * (acc * mk[j] - dd);
                    }
                    for (int j = 0; j < nk; j++)
                    {
                        long kj = (bh * nk + j) * dh;
                        for (int d = 0; d < dh; d++)
                        {
                            dv[kj + d] += pr[j] * mk[j] * c.GAt(b, h, i, d);
                            dk[kj + d] += dp[j] * c.QAt(b, h, i, d) * c.Scale;
                            dq[oi + d] += dp[j] * c.KAt(b, h, j, d) * c.Scale;
                        }
                    }
                }
            }
        return (o, lse, dq, dk, dv);
    }

    /// <summary>Runs the kernel: o, lse, and dq, dk, dv gathered back to contiguous (B, H, N, Dh).
    /// <paramref name="probsOffset"/> ≥ 0: the forward saves the probabilities and the backward reads them, in a buffer
    /// starting that many floats past a 64-byte boundary (the kernel aligns the start itself).</summary>
    private static (float[] O, float[] Lse, float[] Dq, float[] Dk, float[] Dv) Run(Case c, int probsOffset = -1)
    {
        int d = c.D;
        var o = new float[c.B * c.Nq * c.Ldo];
        var lse = new float[c.B * c.H * c.Nq];
        // dq into a padded q-like buffer, dk and dv into a kv-like buffer (the fused dqkv pattern).
        var dqb = new float[c.B * c.Nq * c.Ldq];
        var dkvb = new float[c.B * c.Nk * c.Ldkv];
        Array.Fill(dqb, float.NaN);
        Array.Fill(dkvb, float.NaN);
        // NaN-filled: every read of the saved probabilities must be of a written one.
        var probs = probsOffset >= 0 ? GC.AllocateArray<float>((int)Attention.ProbabilitiesLength(c.B, c.H, c.Nq, c.Nk) + 16, pinned: true) : [];
        Array.Fill(probs, float.NaN);
        fixed (float* q = c.Q, kv = c.KV, g = c.G, po = o, pl = lse, pdq = dqb, pdkv = dkvb, pp0 = probs)
        {
            float* pp = probsOffset >= 0 ? (float*)(((nint)pp0 + 63) & ~(nint)63) + probsOffset : null;
            Attention.Forward(q, c.Qs, kv, c.KVs, kv + d, c.KVs, po, c.Os, pl, c.B, c.H, c.Nq, c.Nk, c.Dh, c.Scale, c.P, c.Seed, pp);
            Attention.Backward(q, c.Qs, kv, c.KVs, kv + d, c.KVs, po, c.Os, pl, g, c.Os, pdq, c.Qs, pdkv, c.KVs, pdkv + d, c.KVs,
                c.B, c.H, c.Nq, c.Nk, c.Dh, c.Scale, c.P, c.Seed, pp);
        }
        float[] Gather(float[] src, int n, int ld, int off)
        {
            var r = new float[c.B * c.H * n * c.Dh];
            for (int b = 0; b < c.B; b++)
                for (int h = 0; h < c.H; h++)
                    for (int i = 0; i < n; i++)
                        for (int x = 0; x < c.Dh; x++)
                            r[(((long)b * c.H + h) * n + i) * c.Dh + x] = src[(long)b * n * ld + i * ld + off + h * c.Dh + x];
            return r;
        }
        return (Gather(o, c.Nq, c.Ldo, 0), lse, Gather(dqb, c.Nq, c.Ldq, 0), Gather(dkvb, c.Nk, c.Ldkv, 0), Gather(dkvb, c.Nk, c.Ldkv, d));
    }

    [Theory]
    [InlineData(1, 1, 1, 1, 24, 0f)]
    [InlineData(1, 2, 7, 7, 64, 0f)]
    [InlineData(3, 2, 17, 17, 24, 0f)]
    [InlineData(2, 4, 50, 50, 32, 0f)]
    [InlineData(1, 3, 197, 197, 64, 0f)]
    [InlineData(1, 1, 257, 257, 32, 0f)]
    [InlineData(1, 2, 33, 13, 5, 0f)]
    [InlineData(2, 1, 16, 40, 17, 0f)]
    [InlineData(1, 2, 29, 29, 48, 0.25f)]
    [InlineData(2, 2, 50, 50, 32, 0.1f)]
    public void ForwardAndBackward_Strided_MatchDouble(int b, int h, int nq, int nk, int dh, float p)
    {
        var c = Make(b, h, nq, nk, dh, p, seed: nq * 31 + nk * 7 + dh);
        var r = Reference(c);
        // On AVX-512 both the raw-Vector512 micro-kernels and the generic ones they replace are checked, the latter
        // with the backward's D = Σ dO·O (the path dropout takes) instead of Σ P·dP.
        NnTestUtil.ForEachLevel(level =>
        {
            foreach (bool fast in level == SimdLevel.Vector512 ? new[] { true, false } : [true])
                foreach (int offset in new[] { -1, 0, 1 })
                {
                    Attention.Use512 = fast;
                    Attention.DFromP = fast;
                    (float[] O, float[] Lse, float[] Dq, float[] Dk, float[] Dv) k;
                    try { k = Run(c, offset); }
                    finally { Attention.Use512 = Attention.DFromP = true; }
                    string tag = $"{level}{(fast ? "" : " generic, D from O")}{(offset >= 0 ? $" saved P at +{offset}" : "")}";
                    NnTestUtil.Close(r.O, k.O, 2e-6, 2e-5, $"{tag} o");
                    NnTestUtil.Close(r.Lse, k.Lse, 2e-6, 2e-6, $"{tag} lse");
                    NnTestUtil.Close(r.Dq, k.Dq, 1e-5, 1e-4, $"{tag} dq");
                    NnTestUtil.Close(r.Dk, k.Dk, 1e-5, 1e-4, $"{tag} dk");
                    NnTestUtil.Close(r.Dv, k.Dv, 1e-5, 1e-4, $"{tag} dv");
                }
        });
    }

    [Fact]
    public void StridedWrites_TouchOnlyTheirColumns()
    {
        // o, dq, dk, dv are written into column blocks of wider rows: everything outside must be left alone.
        var c = Make(2, 3, 19, 19, 8, 0f, seed: 3);
        int d = c.D;
        var o = new float[c.B * c.Nq * (d + 5)];
        var dqkv = new float[c.B * c.Nq * (3 * d + 2)];
        Array.Fill(o, 7f);
        Array.Fill(dqkv, 7f);
        var lse = new float[c.B * c.H * c.Nq];
        var os = new AttentionStrides((long)c.Nq * (d + 5), c.Dh, d + 5);
        var ds = new AttentionStrides((long)c.Nq * (3 * d + 2), c.Dh, 3 * d + 2);
        fixed (float* q = c.Q, kv = c.KV, g = c.G, po = o, pl = lse, pd = dqkv)
        {
            Attention.Forward(q, c.Qs, kv, c.KVs, kv + d, c.KVs, po, os, pl, c.B, c.H, c.Nq, c.Nk, c.Dh, c.Scale);
            Attention.Backward(q, c.Qs, kv, c.KVs, kv + d, c.KVs, po, os, pl, g, c.Os, pd, ds, pd + d, ds, pd + 2 * d, ds,
                c.B, c.H, c.Nq, c.Nk, c.Dh, c.Scale);
        }
        for (int r = 0; r < c.B * c.Nq; r++)
        {
            for (int x = d; x < d + 5; x++) Assert.Equal(7f, o[r * (d + 5) + x]);
            for (int x = 3 * d; x < 3 * d + 2; x++) Assert.Equal(7f, dqkv[r * (3 * d + 2) + x]);
        }
    }

    [Theory]
    [InlineData(1, 3, 197, 64)]
    [InlineData(1, 1, 50, 24)]
    public void Results_DoNotDependOnThreadCount(int b, int h, int n, int dh)
    {
        var c = Make(b, h, n, n, dh, 0.2f, seed: 11);
        int saved = Workers.ThreadCount;
        try
        {
            NnTestUtil.ForEachLevel(level =>
            {
                Workers.ThreadCount = 1;
                var one = Run(c);
                foreach (int t in new[] { 2, 3, 5 })
                {
                    Workers.ThreadCount = t;
                    var many = Run(c);
                    Assert.Equal(one.O, many.O);
                    Assert.Equal(one.Lse, many.Lse);
                    Assert.Equal(one.Dq, many.Dq);
                    Assert.Equal(one.Dk, many.Dk);
                    Assert.Equal(one.Dv, many.Dv);
                }
            });
        }
        finally { Workers.ThreadCount = saved; }
    }
}
