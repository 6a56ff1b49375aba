using System.Runtime.CompilerServices;

namespace VitSharp.Kernels;

/// <summary>Element strides of a (batch, head, token, dim) attention operand; the dim stride must be 1.</summary>
public readonly record struct AttentionStrides(long Batch, long Head, long Token)
{
    /// <summary>Strides of a contiguous (B, H, N, Dh) tensor.</summary>
    public static AttentionStrides Contiguous(int heads, int tokens, int dh) => new((long)heads * tokens * dh, (long)tokens * dh, dh);
}

/// <summary>
/// Fused scaled-dot-product attention, FlashAttention style: per (batch, head, block of 8 query rows) the scores
/// against blocks of 128 keys are formed in a small scratch, folded into the output with an online softmax
/// (running max and sum, output rescaled when the max grows), and never stored as an N×N matrix. The forward
/// can save the per-row log-sum-exp so the backward recomputes probabilities block by block.
/// Optional dropout on the probabilities draws its mask from a counter-based hash of (seed, head, row, column),
/// so the backward regenerates it instead of storing it. Work is split over B×H (and query chunks when B×H is
/// small) on <see cref="Workers"/>; each job uses thread-local scratch.
/// </summary>
public static unsafe class Attention
{
    internal const int R = 8;      // query rows per micro-tile
    internal const int BK = 128;   // keys per block
    internal const int QB = 32;    // query rows per backward step (a multiple of R)

    [ThreadStatic] private static float[]? scratch;

    private static float* Scratch(long floats)
    {
        if (scratch == null || scratch.Length < floats)
            scratch = GC.AllocateUninitializedArray<float>((int)Math.Max(floats, 4096), pinned: true);
        return (float*)Unsafe.AsPointer(ref scratch[0]);
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>Contiguous (B, H, N, Dh) q, k, v and o; o = softmax(q·kᵀ·scale)·v.</summary>
    public static void Forward(ReadOnlySpan<float> q, ReadOnlySpan<float> k, ReadOnlySpan<float> v, Span<float> o,
        int batch, int heads, int tokens, int dh, float scale)
    {
        long n = (long)batch * heads * tokens * dh;
        if (q.Length < n || k.Length < n || v.Length < n || o.Length < n)
            throw new ArgumentException($"attention: spans shorter than {batch}×{heads}×{tokens}×{dh}");
        var st = AttentionStrides.Contiguous(heads, tokens, dh);
        fixed (float* pq = q, pk = k, pv = v, po = o)
            Forward(pq, st, pk, st, pv, st, po, st, null, batch, heads, tokens, tokens, dh, scale);
    }

    /// <summary>
    /// General forward on strided operands. <paramref name="lse"/> (B·H·nq floats, may be null) receives the
    /// log-sum-exp of each score row for the backward. With <paramref name="dropoutP"/> &gt; 0 the probabilities
    /// are dropped (inverted scaling) with a mask derived from <paramref name="dropoutSeed"/>.
    /// </summary>
    public static void Forward(float* q, AttentionStrides qs, float* k, AttentionStrides ks, float* v, AttentionStrides vs,
        float* o, AttentionStrides os, float* lse, int batch, int heads, int nq, int nk, int dh, float scale,
        float dropoutP = 0, ulong dropoutSeed = 0)
    {
        if (batch * heads == 0 || nq == 0) return;
        int bh = batch * heads;
        int threads = Workers.ThreadCount;
        int chunks = Math.Clamp((4 * threads + bh - 1) / bh, 1, Math.Max(1, nq / 32));
        int qChunk = RoundUp((nq + chunks - 1) / chunks, R);
        chunks = (nq + qChunk - 1) / qChunk;
        var job = new FwdJob
        {
            Q = q,
            K = k,
            V = v,
            O = o,
            Lse = lse,
            Qs = qs,
            Ks = ks,
            Vs = vs,
            Os = os,
            Heads = heads,
            Nq = nq,
            Nk = nk,
            Dh = dh,
            Scale = scale,
            QChunk = qChunk,
            Chunks = chunks,
            DropP = dropoutP,
            Seed = dropoutSeed,
            Level = Cpu.Level,
        };
        if (threads == 1 || (long)bh * nq * nk * dh < 1 << 16) for (int i = 0; i < bh * chunks; i++) job.Execute(i);
        else Workers.For(bh * chunks, job);
    }

    /// <summary>
    /// Backward from the forward's output <paramref name="o"/>, log-sum-exp and dO. dq, dk, dv are contiguous
    /// (B, H, N, Dh) and overwritten. Parallel over B×H (each job owns its head's dk, dv).
    /// </summary>
    public static void Backward(float* q, AttentionStrides qs, float* k, AttentionStrides ks, float* v, AttentionStrides vs,
        float* o, AttentionStrides os, float* lse, float* dout, AttentionStrides dos, float* dq, float* dk, float* dv,
        int batch, int heads, int nq, int nk, int dh, float scale, float dropoutP = 0, ulong dropoutSeed = 0)
        => Backward(q, qs, k, ks, v, vs, o, os, lse, dout, dos, dq, AttentionStrides.Contiguous(heads, nq, dh),
            dk, AttentionStrides.Contiguous(heads, nk, dh), dv, AttentionStrides.Contiguous(heads, nk, dh),
            batch, heads, nq, nk, dh, scale, dropoutP, dropoutSeed);

    /// <summary>Backward with strided dq, dk, dv (e.g. written straight into the column blocks of a fused dqkv
    /// matrix); each is overwritten. Heads own disjoint slices, so any layout without overlap between heads works.</summary>
    public static void Backward(float* q, AttentionStrides qs, float* k, AttentionStrides ks, float* v, AttentionStrides vs,
        float* o, AttentionStrides os, float* lse, float* dout, AttentionStrides dos, float* dq, AttentionStrides dqs,
        float* dk, AttentionStrides dks, float* dv, AttentionStrides dvs,
        int batch, int heads, int nq, int nk, int dh, float scale, float dropoutP = 0, ulong dropoutSeed = 0)
    {
        int bh = batch * heads;
        var job = new BwdJob
        {
            Q = q,
            K = k,
            V = v,
            O = o,
            Lse = lse,
            DO = dout,
            DQ = dq,
            DK = dk,
            DV = dv,
            Qs = qs,
            Ks = ks,
            Vs = vs,
            Os = os,
            DOs = dos,
            DQs = dqs,
            DKs = dks,
            DVs = dvs,
            Heads = heads,
            Nq = nq,
            Nk = nk,
            Dh = dh,
            Scale = scale,
            DropP = dropoutP,
            Seed = dropoutSeed,
            Level = Cpu.Level,
        };
        if (Workers.ThreadCount == 1 || (long)bh * nq * nk * dh < 1 << 15) for (int i = 0; i < bh; i++) job.Execute(i);
        else Workers.For(bh, job);
    }

    /// <summary>Dropout mask bit for probability (row i, column j) of head bh: a SplitMix64-style hash.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool Keep(ulong seed, long bh, int i, int j, uint threshold)
    {
        ulong z = seed + (ulong)bh * 0x9E3779B97F4A7C15UL + (ulong)i * 0xC2B2AE3D27D4EB4FUL + (ulong)j * 0x165667B19E3779F9UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        z ^= z >> 31;
        return (uint)(z >> 40) >= threshold;
    }

    internal static uint DropThreshold(float p) => (uint)Math.Min(p * (1 << 24), (1 << 24));

    private struct FwdJob : IParallelJob
    {
        public float* Q, K, V, O, Lse;
        public AttentionStrides Qs, Ks, Vs, Os;
        public int Heads, Nq, Nk, Dh, QChunk, Chunks;
        public float Scale, DropP;
        public ulong Seed;
        public SimdLevel Level;

        public readonly void Execute(int index)
        {
            switch (Level)
            {
                case SimdLevel.Vector512: Run<V512>(index); break;
                case SimdLevel.Vector256: Run<V256>(index); break;
                default: Run<V1>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Run<TV>(int index) where TV : struct, IVec<TV>
        {
            int head = index / Chunks, chunk = index % Chunks;
            int b = head / Heads, h = head % Heads;
            int q0 = chunk * QChunk, q1 = Math.Min(Nq, q0 + QChunk);
            float* q = Q + b * Qs.Batch + h * Qs.Head, k = K + b * Ks.Batch + h * Ks.Head;
            float* v = V + b * Vs.Batch + h * Vs.Head, o = O + b * Os.Batch + h * Os.Head;
            int dh = Dh, ldk = RoundUp(Nk, 32);
            // scratch: Kᵀ (dh × ldk), Q tile (R × dh), S/P tile (R × BK), O accumulator (R × dh), m, l (R each)
            float* kt = Scratch((long)dh * ldk + 2L * R * dh + R * BK + 2 * R);
            float* qt = kt + (long)dh * ldk, st = qt + R * dh, acc = st + R * BK, mrow = acc + R * dh, lrow = mrow + R;
            PackTransposed(k, Ks.Token, Nk, dh, kt, ldk);
            bool drop = DropP > 0;
            uint thr = DropThreshold(DropP);
            float keepScale = drop ? 1f / (1f - DropP) : 1f;
            for (int i0 = q0; i0 < q1; i0 += R)
            {
                int rows = Math.Min(R, q1 - i0);
                LoadRows(q, Qs.Token, i0, rows, R, dh, Scale, qt);
                new Span<float>(acc, R * dh).Clear();
                for (int r = 0; r < R; r++) { mrow[r] = float.NegativeInfinity; lrow[r] = 0; }
                for (int kb = 0; kb < Nk; kb += BK)
                {
                    int kn = Math.Min(BK, Nk - kb);
                    // S = (q·scale)·Kᵀ over this key block; padded key columns are zero and ignored below.
                    Gemm8<TV>(R, qt, dh, 1, kt + kb, ldk, st, BK, dh, RoundUp(kn, 32), acc: false);
                    for (int r = 0; r < rows; r++)
                    {
                        float* s = st + r * BK;
                        float mNew = MathF.Max(mrow[r], Softmax.RowMax<TV>(s, kn));
                        float alpha = VMath.Exp(new V1(mrow[r] - mNew)).V;
                        float sum = Softmax.ExpShiftSum<TV>(s, s, kn, mNew);
                        lrow[r] = lrow[r] * alpha + sum;
                        mrow[r] = mNew;
                        if (alpha != 1f) Softmax.Scale<TV>(acc + r * dh, dh, alpha);
                        if (drop)
                        {
                            long bhIndex = (long)b * Heads + h;
                            for (int j = 0; j < kn; j++) s[j] = Keep(Seed, bhIndex, i0 + r, kb + j, thr) ? s[j] * keepScale : 0f;
                        }
                    }
                    // acc += P·V (rows past the valid ones hold junk that is never stored)
                    Gemm8<TV>(R, st, BK, 1, v + kb * Vs.Token, Vs.Token, acc, dh, kn, dh, acc: true);
                }
                for (int r = 0; r < rows; r++)
                {
                    float inv = 1f / lrow[r];
                    float* dst = o + (long)(i0 + r) * Os.Token, src = acc + r * dh;
                    for (int d = 0; d < dh; d++) dst[d] = src[d] * inv;
                    if (Lse != null) Lse[(long)(b * Heads + h) * Nq + i0 + r] = mrow[r] + MathF.Log(lrow[r]);
                }
            }
        }
    }

    private struct BwdJob : IParallelJob
    {
        public float* Q, K, V, O, Lse, DO, DQ, DK, DV;
        public AttentionStrides Qs, Ks, Vs, Os, DOs, DQs, DKs, DVs;
        public int Heads, Nq, Nk, Dh;
        public float Scale, DropP;
        public ulong Seed;
        public SimdLevel Level;

        public readonly void Execute(int index)
        {
            switch (Level)
            {
                case SimdLevel.Vector512: Run<V512>(index); break;
                case SimdLevel.Vector256: Run<V256>(index); break;
                default: Run<V1>(index); break;
            }
        }

        [MethodImpl(MethodImplOptions.AggressiveOptimization)]
        private readonly void Run<TV>(int head) where TV : struct, IVec<TV>
        {
            int b = head / Heads, h = head % Heads, dh = Dh;
            float* q = Q + b * Qs.Batch + h * Qs.Head, k = K + b * Ks.Batch + h * Ks.Head;
            float* v = V + b * Vs.Batch + h * Vs.Head, o = O + b * Os.Batch + h * Os.Head, dout = DO + b * DOs.Batch + h * DOs.Head;
            float* dq = DQ + b * DQs.Batch + h * DQs.Head, dk = DK + b * DKs.Batch + h * DKs.Head, dv = DV + b * DVs.Batch + h * DVs.Head;
            long ldq = DQs.Token, ldk2 = DKs.Token, ldv = DVs.Token;
            float* lse = Lse + (long)head * Nq;
            int ldk = RoundUp(Nk, 32);
            // scratch: Kᵀ, Vᵀ (dh × ldk each), Q tile, dO tile, dQ tile (QB × dh each), P and dS tiles (QB × BK), D (QB)
            float* kt = Scratch(2L * dh * ldk + 3L * QB * dh + 2 * QB * BK + QB);
            float* vt = kt + (long)dh * ldk, qt = vt + (long)dh * ldk, gt = qt + QB * dh, dqt = gt + QB * dh;
            float* pt = dqt + QB * dh, dpt = pt + QB * BK, drow = dpt + QB * BK;
            PackTransposed(k, Ks.Token, Nk, dh, kt, ldk);
            PackTransposed(v, Vs.Token, Nk, dh, vt, ldk);
            for (int j = 0; j < Nk; j++)
            {
                new Span<float>(dk + j * ldk2, dh).Clear();
                new Span<float>(dv + j * ldv, dh).Clear();
            }
            bool drop = DropP > 0;
            uint thr = DropThreshold(DropP);
            float keepScale = drop ? 1f / (1f - DropP) : 1f;
            long bhIndex = (long)b * Heads + h;
            // QB query rows per step so the dK/dV updates (Pᵀ·dO, dSᵀ·Q) run over QB-long inner products.
            for (int i0 = 0; i0 < Nq; i0 += QB)
            {
                int rows = Math.Min(QB, Nq - i0), rowsPad = RoundUp(rows, R);
                LoadRows(q, Qs.Token, i0, rows, rowsPad, dh, Scale, qt);
                LoadRows(dout, DOs.Token, i0, rows, rowsPad, dh, 1f, gt);
                for (int r = 0; r < rowsPad; r++)
                {
                    // D_i = Σ dO_i·O_i (equals Σ_j P_ij dP_ij, dropout included)
                    float s = 0;
                    if (r < rows)
                    {
                        float* orow = o + (long)(i0 + r) * Os.Token, grow = gt + r * dh;
                        for (int d = 0; d < dh; d++) s += orow[d] * grow[d];
                    }
                    drow[r] = s;
                }
                for (int kb = 0; kb < Nk; kb += BK)
                {
                    int kn = Math.Min(BK, Nk - kb), kpad = RoundUp(kn, 32);
                    for (int sb = 0; sb < rowsPad; sb += R)
                    {
                        Gemm8<TV>(R, qt + sb * dh, dh, 1, kt + kb, ldk, pt + sb * BK, BK, dh, kpad, acc: false);   // S
                        Gemm8<TV>(R, gt + sb * dh, dh, 1, vt + kb, ldk, dpt + sb * BK, BK, dh, kpad, acc: false);  // dO·Vᵀ
                    }
                    for (int r = 0; r < rowsPad; r++)
                    {
                        float* p = pt + r * BK, dp = dpt + r * BK;
                        if (r >= rows)
                        {
                            new Span<float>(p, kpad).Clear();
                            new Span<float>(dp, kpad).Clear();
                            continue;
                        }
                        Softmax.ExpShiftSum<TV>(p, p, kn, lse[i0 + r]);  // P = exp(S - lse)
                        new Span<float>(p + kn, kpad - kn).Clear();
                        new Span<float>(dp + kn, kpad - kn).Clear();
                        float dr = drow[r];
                        if (!drop)
                        {
                            var vdr = TV.Splat(dr);
                            int j = 0;
                            for (; j <= kn - TV.Count; j += TV.Count)
                                TV.Store(TV.Mul(TV.Load(ref p[j]), TV.Sub(TV.Load(ref dp[j]), vdr)), ref dp[j]);
                            for (; j < kn; j++) dp[j] = p[j] * (dp[j] - dr);
                            continue;
                        }
                        for (int j = 0; j < kn; j++)
                        {
                            float m = Keep(Seed, bhIndex, i0 + r, kb + j, thr) ? keepScale : 0f;
                            float pj = p[j];
                            // dp becomes dS = P∘(dP̃·M/(1−p) − D); p becomes the dropped probability used for dV
                            dp[j] = pj * (dp[j] * m - dr);
                            p[j] = pj * m;
                        }
                    }
                    // dV[kb..] += P̃ᵀ·dO ; dK[kb..] += dSᵀ·(q·scale) ; dQ += dS·K
                    for (int j0 = 0; j0 < kn; j0 += R)
                    {
                        int jr = Math.Min(R, kn - j0);
                        Gemm8<TV>(jr, pt + j0, 1, BK, gt, dh, dv + (kb + j0) * ldv, ldv, rowsPad, dh, acc: true);
                        Gemm8<TV>(jr, dpt + j0, 1, BK, qt, dh, dk + (kb + j0) * ldk2, ldk2, rowsPad, dh, acc: true);
                    }
                    for (int sb = 0; sb < rowsPad; sb += R)
                        Gemm8<TV>(R, dpt + sb * BK, BK, 1, k + kb * Ks.Token, Ks.Token, dqt + sb * dh, dh, kn, dh, acc: kb > 0);
                }
                for (int r = 0; r < rows; r++)
                {
                    float* dst = dq + (i0 + r) * ldq, src = dqt + r * dh;
                    for (int d = 0; d < dh; d++) dst[d] = src[d] * Scale;
                }
            }
        }
    }

    /// <summary>dst[d·ld + j] = src[j·stride + d] for j &lt; n, zero for n ≤ j &lt; ld.</summary>
    private static void PackTransposed(float* src, long stride, int n, int dh, float* dst, int ld)
    {
        for (int d = 0; d < dh; d++)
        {
            float* row = dst + (long)d * ld;
            for (int j = 0; j < n; j++) row[j] = src[j * stride + d];
            for (int j = n; j < ld; j++) row[j] = 0;
        }
    }

    /// <summary>Rows i0.. of a strided operand into a dense tile of <paramref name="tileRows"/> rows, times
    /// <paramref name="scale"/>; rows past <paramref name="rows"/> are zero.</summary>
    private static void LoadRows(float* src, long stride, int i0, int rows, int tileRows, int dh, float scale, float* dst)
    {
        for (int r = 0; r < tileRows; r++)
        {
            float* d = dst + r * dh;
            if (r < rows)
            {
                float* s = src + (long)(i0 + r) * stride;
                for (int x = 0; x < dh; x++) d[x] = s[x] * scale;
            }
            else new Span<float>(d, dh).Clear();
        }
    }

    /// <summary>
    /// C (rows × ncols, row stride ldc) (+)= A (8 rows; element (r, p) at a[r·ars + p·aks]) · B (kdim × ncols,
    /// row stride ldb). A is read for all 8 rows (callers keep them addressable); C only for the first rows.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Gemm8<TV>(int rows, float* a, long ars, long aks, float* b, long ldb, float* c, long ldc, int kdim, int ncols, bool acc) where TV : struct, IVec<TV>
    {
        int w = TV.Count, j = 0;
        for (; j + 2 * w <= ncols; j += 2 * w) Mk2<TV>(rows, a, ars, aks, b + j, ldb, c + j, ldc, kdim, acc);
        if (j + w <= ncols) { Mk1<TV>(rows, a, ars, aks, b + j, ldb, c + j, ldc, kdim, acc); j += w; }
        for (; j < ncols; j++) Mk1<V1>(rows, a, ars, aks, b + j, ldb, c + j, ldc, kdim, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Mk2<TV>(int rows, float* a, long ars, long aks, float* b, long ldb, float* c, long ldc, int kdim, bool acc) where TV : struct, IVec<TV>
    {
        int w = TV.Count;
        var z = TV.Splat(0f);
        var c00 = z; var c01 = z;
        var c10 = z; var c11 = z;
        var c20 = z; var c21 = z;
        var c30 = z; var c31 = z;
        var c40 = z; var c41 = z;
        var c50 = z; var c51 = z;
        var c60 = z; var c61 = z;
        var c70 = z; var c71 = z;
        if (acc)
        {
            if (rows > 0) { c00 = TV.Load(ref c[0 * ldc]); c01 = TV.Load(ref c[0 * ldc + 1 * w]); }
            if (rows > 1) { c10 = TV.Load(ref c[1 * ldc]); c11 = TV.Load(ref c[1 * ldc + 1 * w]); }
            if (rows > 2) { c20 = TV.Load(ref c[2 * ldc]); c21 = TV.Load(ref c[2 * ldc + 1 * w]); }
            if (rows > 3) { c30 = TV.Load(ref c[3 * ldc]); c31 = TV.Load(ref c[3 * ldc + 1 * w]); }
            if (rows > 4) { c40 = TV.Load(ref c[4 * ldc]); c41 = TV.Load(ref c[4 * ldc + 1 * w]); }
            if (rows > 5) { c50 = TV.Load(ref c[5 * ldc]); c51 = TV.Load(ref c[5 * ldc + 1 * w]); }
            if (rows > 6) { c60 = TV.Load(ref c[6 * ldc]); c61 = TV.Load(ref c[6 * ldc + 1 * w]); }
            if (rows > 7) { c70 = TV.Load(ref c[7 * ldc]); c71 = TV.Load(ref c[7 * ldc + 1 * w]); }
        }
        float* a0 = a; float* a1 = a + 1 * ars; float* a2 = a + 2 * ars; float* a3 = a + 3 * ars; float* a4 = a + 4 * ars; float* a5 = a + 5 * ars; float* a6 = a + 6 * ars; float* a7 = a + 7 * ars;
        for (int p = 0; p < kdim; p++)
        {
            long o = p * aks;
            var b0 = TV.Load(ref b[0]);
            var b1 = TV.Load(ref b[1 * w]);
            var x0 = TV.Splat(a0[o]); c00 = TV.Fma(x0, b0, c00); c01 = TV.Fma(x0, b1, c01);
            var x1 = TV.Splat(a1[o]); c10 = TV.Fma(x1, b0, c10); c11 = TV.Fma(x1, b1, c11);
            var x2 = TV.Splat(a2[o]); c20 = TV.Fma(x2, b0, c20); c21 = TV.Fma(x2, b1, c21);
            var x3 = TV.Splat(a3[o]); c30 = TV.Fma(x3, b0, c30); c31 = TV.Fma(x3, b1, c31);
            var x4 = TV.Splat(a4[o]); c40 = TV.Fma(x4, b0, c40); c41 = TV.Fma(x4, b1, c41);
            var x5 = TV.Splat(a5[o]); c50 = TV.Fma(x5, b0, c50); c51 = TV.Fma(x5, b1, c51);
            var x6 = TV.Splat(a6[o]); c60 = TV.Fma(x6, b0, c60); c61 = TV.Fma(x6, b1, c61);
            var x7 = TV.Splat(a7[o]); c70 = TV.Fma(x7, b0, c70); c71 = TV.Fma(x7, b1, c71);
            b += ldb;
        }
        if (rows > 0) { TV.Store(c00, ref c[0 * ldc]); TV.Store(c01, ref c[0 * ldc + 1 * w]); }
        if (rows > 1) { TV.Store(c10, ref c[1 * ldc]); TV.Store(c11, ref c[1 * ldc + 1 * w]); }
        if (rows > 2) { TV.Store(c20, ref c[2 * ldc]); TV.Store(c21, ref c[2 * ldc + 1 * w]); }
        if (rows > 3) { TV.Store(c30, ref c[3 * ldc]); TV.Store(c31, ref c[3 * ldc + 1 * w]); }
        if (rows > 4) { TV.Store(c40, ref c[4 * ldc]); TV.Store(c41, ref c[4 * ldc + 1 * w]); }
        if (rows > 5) { TV.Store(c50, ref c[5 * ldc]); TV.Store(c51, ref c[5 * ldc + 1 * w]); }
        if (rows > 6) { TV.Store(c60, ref c[6 * ldc]); TV.Store(c61, ref c[6 * ldc + 1 * w]); }
        if (rows > 7) { TV.Store(c70, ref c[7 * ldc]); TV.Store(c71, ref c[7 * ldc + 1 * w]); }
    }

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static void Mk1<TV>(int rows, float* a, long ars, long aks, float* b, long ldb, float* c, long ldc, int kdim, bool acc) where TV : struct, IVec<TV>
    {
        int w = TV.Count;
        var z = TV.Splat(0f);
        var c00 = z;
        var c10 = z;
        var c20 = z;
        var c30 = z;
        var c40 = z;
        var c50 = z;
        var c60 = z;
        var c70 = z;
        if (acc)
        {
            if (rows > 0) { c00 = TV.Load(ref c[0 * ldc]); }
            if (rows > 1) { c10 = TV.Load(ref c[1 * ldc]); }
            if (rows > 2) { c20 = TV.Load(ref c[2 * ldc]); }
            if (rows > 3) { c30 = TV.Load(ref c[3 * ldc]); }
            if (rows > 4) { c40 = TV.Load(ref c[4 * ldc]); }
            if (rows > 5) { c50 = TV.Load(ref c[5 * ldc]); }
            if (rows > 6) { c60 = TV.Load(ref c[6 * ldc]); }
            if (rows > 7) { c70 = TV.Load(ref c[7 * ldc]); }
        }
        float* a0 = a; float* a1 = a + 1 * ars; float* a2 = a + 2 * ars; float* a3 = a + 3 * ars; float* a4 = a + 4 * ars; float* a5 = a + 5 * ars; float* a6 = a + 6 * ars; float* a7 = a + 7 * ars;
        for (int p = 0; p < kdim; p++)
        {
            long o = p * aks;
            var b0 = TV.Load(ref b[0]);
            var x0 = TV.Splat(a0[o]); c00 = TV.Fma(x0, b0, c00);
            var x1 = TV.Splat(a1[o]); c10 = TV.Fma(x1, b0, c10);
            var x2 = TV.Splat(a2[o]); c20 = TV.Fma(x2, b0, c20);
            var x3 = TV.Splat(a3[o]); c30 = TV.Fma(x3, b0, c30);
            var x4 = TV.Splat(a4[o]); c40 = TV.Fma(x4, b0, c40);
            var x5 = TV.Splat(a5[o]); c50 = TV.Fma(x5, b0, c50);
            var x6 = TV.Splat(a6[o]); c60 = TV.Fma(x6, b0, c60);
            var x7 = TV.Splat(a7[o]); c70 = TV.Fma(x7, b0, c70);
            b += ldb;
        }
        if (rows > 0) { TV.Store(c00, ref c[0 * ldc]); }
        if (rows > 1) { TV.Store(c10, ref c[1 * ldc]); }
        if (rows > 2) { TV.Store(c20, ref c[2 * ldc]); }
        if (rows > 3) { TV.Store(c30, ref c[3 * ldc]); }
        if (rows > 4) { TV.Store(c40, ref c[4 * ldc]); }
        if (rows > 5) { TV.Store(c50, ref c[5 * ldc]); }
        if (rows > 6) { TV.Store(c60, ref c[6 * ldc]); }
        if (rows > 7) { TV.Store(c70, ref c[7 * ldc]); }
    }
}
