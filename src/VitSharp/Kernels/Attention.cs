using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Kernels;

/// <summary>Element strides of a (batch, head, token, dim) attention operand; the dim stride must be 1.</summary>
public readonly record struct AttentionStrides(long Batch, long Head, long Token)
{
    /// <summary>Strides of a contiguous (B, H, N, Dh) tensor.</summary>
    public static AttentionStrides Contiguous(int heads, int tokens, int dh) => new((long)heads * tokens * dh, (long)tokens * dh, dh);
}

/// <summary>
/// Fused scaled-dot-product attention that never stores an N×N matrix. Queries are processed in tiles of one or
/// two SIMD registers' width laid along the vector lanes: the transposed scores Sᵀ (keys × tile) of a tile
/// against all keys are formed in a small scratch (keys broadcast from their rows, the tile's Qᵀ packed), so the
/// softmax is a column-wise (vertical) max / exp / sum with no horizontal reductions, and Sᵀ is already in the
/// packed layout that P·V reads. One pass over all keys (no online rescaling): the scratch is only keys × tile.
/// The forward can save the per-row log-sum-exp so the backward recomputes probabilities tile by tile, or save the
/// probabilities themselves (<see cref="ProbabilitiesLength"/>) so the backward reads them instead.
/// Optional dropout on the probabilities draws its mask from a counter-based hash of (seed, head, row, column),
/// so the backward regenerates it instead of storing it. Work is split over B×H (and query chunks when B×H is
/// small) on <see cref="Workers"/>; each job uses thread-local scratch. Every row's arithmetic is independent of
/// the chunking, so results do not depend on the thread count.
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>Off: the generic micro-kernels on AVX-512 too (tests cover both; an A/B knob).</summary>
    internal static bool Use512 = true;
    /// <summary>Off: the backward's D from dO·O rows as with dropout (tests cover both; an A/B knob).</summary>
    internal static bool DFromP = true;
    internal const int MR = 12;    // rows per micro-kernel (keys for Sᵀ, dV, dK; queries for P·V, dQ)

    [ThreadStatic] private static float[]? scratch;

    private static float* Scratch(long floats)
    {
        floats += 16;
        if (scratch == null || scratch.Length < floats)
            scratch = GC.AllocateUninitializedArray<float>((int)Math.Max(floats, 4096), pinned: true);
        // 64-byte aligned start: the tiles below are multiples of 16 floats, so their rows stay aligned.
        float* p = (float*)Unsafe.AsPointer(ref scratch[0]);
        return (float*)(((nint)p + 63) & ~(nint)63);
    }

    private static int RoundUp(int x, int m) => (x + m - 1) / m * m;

    /// <summary>Query rows per head in a saved-probabilities buffer: a multiple of every SIMD level's tile width,
    /// so one layout serves all levels.</summary>
    private const int ProbRowAlign = 32;

    /// <summary>
    /// Floats of the buffer in which <see cref="Forward(float*, AttentionStrides, float*, AttentionStrides, float*, AttentionStrides, float*, AttentionStrides, float*, int, int, int, int, int, float, float, ulong, float*)"/>
    /// can save the softmax probabilities for the backward (B·H·⌈nq⌉₃₂·nk, plus 16 floats of slack for aligning the
    /// start to 64 bytes), which then skips recomputing S = q·kᵀ and its exponentials: a fifth of the backward's
    /// products, for nq·nk floats per head of memory. The buffer must not move between the two calls (a pinned
    /// array or native memory): both align its start the same way.
    /// </summary>
    public static long ProbabilitiesLength(int batch, int heads, int nq, int nk) => (long)batch * heads * RoundUp(nq, ProbRowAlign) * nk + 16;

    /// <summary>Start of query tile i0's probabilities (nk rows of the tile's lanes) for head bh, from the 64-byte
    /// aligned start of the buffer (so the forward's rows are whole cache lines for streaming stores).</summary>
    private static float* ProbTile(float* probs, long bh, int nq, int nk, int i0) =>
        (float*)(((nint)probs + 63) & ~(nint)63) + (bh * RoundUp(nq, ProbRowAlign) + i0) * nk;

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
        float dropoutP = 0, ulong dropoutSeed = 0, float* probs = null)
    {
        if (batch * heads == 0 || nq == 0) return;
        int bh = batch * heads;
        var level = Cpu.Level;
        int w = Lanes(level);
        int tiles = (nq + 2 * w - 1) / (2 * w);
        int threads = Workers.InsideJob ? 1 : Workers.ThreadCount;
        // Enough jobs that every thread gets a fair share when B×H is small (ViT-Tiny at batch 1 has 3 heads):
        // chunks of a few query tiles are cheap, since a job packs nothing per head (K is read in place).
        int chunks = Math.Clamp((8 * threads + bh - 1) / bh, 1, tiles);
        var job = new FwdJob
        {
            Q = q,
            K = k,
            V = v,
            O = o,
            Lse = lse,
            Probs = probs,
            Qs = qs,
            Ks = ks,
            Vs = vs,
            Os = os,
            Heads = heads,
            Nq = nq,
            Nk = nk,
            Dh = dh,
            Scale = scale,
            Tiles = tiles,
            Chunks = chunks,
            DropP = dropoutP,
            Seed = dropoutSeed,
            Level = level,
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
        int batch, int heads, int nq, int nk, int dh, float scale, float dropoutP = 0, ulong dropoutSeed = 0, float* probs = null)
        => Backward(q, qs, k, ks, v, vs, o, os, lse, dout, dos, dq, AttentionStrides.Contiguous(heads, nq, dh),
            dk, AttentionStrides.Contiguous(heads, nk, dh), dv, AttentionStrides.Contiguous(heads, nk, dh),
            batch, heads, nq, nk, dh, scale, dropoutP, dropoutSeed, probs);

    /// <summary>Backward with strided dq, dk, dv (e.g. written straight into the column blocks of a fused dqkv
    /// matrix); each is overwritten. Heads own disjoint slices, so any layout without overlap between heads works.
    /// <paramref name="probs"/>: the probabilities the forward saved (see <see cref="ProbabilitiesLength"/>), or null to
    /// recompute them from q, k and the log-sum-exp.</summary>
    public static void Backward(float* q, AttentionStrides qs, float* k, AttentionStrides ks, float* v, AttentionStrides vs,
        float* o, AttentionStrides os, float* lse, float* dout, AttentionStrides dos, float* dq, AttentionStrides dqs,
        float* dk, AttentionStrides dks, float* dv, AttentionStrides dvs,
        int batch, int heads, int nq, int nk, int dh, float scale, float dropoutP = 0, ulong dropoutSeed = 0, float* probs = null)
    {
        int bh = batch * heads;
        if (bh == 0) return;
        var job = new BwdJob
        {
            Q = q,
            K = k,
            V = v,
            O = o,
            Lse = lse,
            Probs = probs,
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

    /// <summary>The normalised probabilities P = Sᵀ·(1/l) of a tile (nk rows of nv registers) into the saved buffer,
    /// row by row in address order; streaming stores when <paramref name="stream"/> (AVX-512, aligned rows).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void SaveProbabilities<TV>(float* st, float* pd, int nk, int nv, float* lv, bool stream) where TV : struct, IVec<TV>
    {
        int w = TV.Count, lanes = nv * w;
        var l0 = TV.Load(ref lv[0]);
        var l1 = nv > 1 ? TV.Load(ref lv[w]) : l0;
        for (int j = 0; j < nk; j++, st += lanes, pd += lanes)
        {
            var p0 = TV.Mul(TV.Load(ref st[0]), l0);
            var p1 = nv > 1 ? TV.Mul(TV.Load(ref st[w]), l1) : p0;
            if (stream)
            {
                Avx512F.StoreAlignedNonTemporal(pd, Unsafe.As<TV, V512>(ref p0).V);
                if (nv > 1) Avx512F.StoreAlignedNonTemporal(pd + w, Unsafe.As<TV, V512>(ref p1).V);
            }
            else
            {
                TV.Store(p0, ref pd[0]);
                if (nv > 1) TV.Store(p1, ref pd[w]);
            }
        }
    }

    /// <summary>
    /// dSᵀ = P∘(dPᵀ − D)·scale in place of dPᵀ (nk rows of nv registers), P read as saved or exponentiated in place
    /// from Sᵀ and the log-sum-exp lv. Row by row, so a saved P streams from memory in address order (walking it a
    /// register column at a time read every other line; row order made the ViT-Tiny b32 backward 6 % faster).
    /// With <paramref name="dFromP"/>, D = Σ_j P_ij·dP_ij is summed here, down the keys in a first pass, instead of
    /// being given in dvec as Σ dO_i·O_i (the same value without dropout).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void ScoreGradients<TV>(float* pt, float* dpt, int nk, int nv, float* lv, float* dvec, float scale, bool saved, bool dFromP)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count, lanes = nv * w;
        var vs = TV.Splat(scale);
        var vl0 = TV.Load(ref lv[0]);
        var vl1 = nv > 1 ? TV.Load(ref lv[w]) : vl0;
        TV vd0, vd1;
        if (dFromP)
        {
            // First pass: P (exponentiated and stored unless saved) and D; the second reads P back as saved.
            vd0 = TV.Splat(0f);
            vd1 = vd0;
            float* p = pt, dp = dpt;
            for (int j = 0; j < nk; j++, p += lanes, dp += lanes)
            {
                var p0 = ProbabilityRow(p, nv, saved, vl0, vl1, out var p1);
                vd0 = TV.Fma(p0, TV.Load(ref dp[0]), vd0);
                if (nv > 1) vd1 = TV.Fma(p1, TV.Load(ref dp[w]), vd1);
            }
            saved = true;
        }
        else
        {
            vd0 = TV.Load(ref dvec[0]);
            vd1 = nv > 1 ? TV.Load(ref dvec[w]) : vd0;
        }
        for (int j = 0; j < nk; j++, pt += lanes, dpt += lanes)
        {
            var p0 = ProbabilityRow(pt, nv, saved, vl0, vl1, out var p1);
            TV.Store(TV.Mul(TV.Mul(p0, vs), TV.Sub(TV.Load(ref dpt[0]), vd0)), ref dpt[0]);
            if (nv > 1) TV.Store(TV.Mul(TV.Mul(p1, vs), TV.Sub(TV.Load(ref dpt[w]), vd1)), ref dpt[w]);
        }
    }

    /// <summary>One key's row of a tile's P (nv registers; the second is p0 when nv is 1): read as saved, or
    /// exponentiated in place from Sᵀ and the log-sum-exps.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ProbabilityRow<TV>(float* p, int nv, bool saved, TV lse0, TV lse1, out TV p1) where TV : struct, IVec<TV>
    {
        int w = TV.Count;
        TV p0;
        if (saved)
        {
            p0 = TV.Load(ref p[0]);
            p1 = nv > 1 ? TV.Load(ref p[w]) : p0;
        }
        else
        {
            TV.Store(p0 = ExpSoftmax(TV.Sub(TV.Load(ref p[0]), lse0)), ref p[0]);
            p1 = p0;
            if (nv > 1) TV.Store(p1 = ExpSoftmax(TV.Sub(TV.Load(ref p[w]), lse1)), ref p[w]);
        }
        return p0;
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

    private static int Lanes(SimdLevel level) => level switch
    {
        SimdLevel.Vector512 => V512.Count,
        SimdLevel.Vector256 => V256.Count,
        _ => V1.Count,
    };

    /// <summary>Query tile t: first row, valid rows, lanes (two registers, or one for a short last tile).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static (int I0, int Rows, int Lanes) QueryTile(int t, int nq, int w)
    {
        int i0 = t * 2 * w, rows = Math.Min(2 * w, nq - i0);
        return (i0, rows, rows <= w ? w : 2 * w);
    }

    private struct FwdJob : IParallelJob
    {
        public float* Q, K, V, O, Lse, Probs;
        public AttentionStrides Qs, Ks, Vs, Os;
        public int Heads, Nq, Nk, Dh, Tiles, Chunks;
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

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private readonly void Run<TV>(int index) where TV : struct, IVec<TV>
        {
            int head = index / Chunks, chunk = index % Chunks;
            int b = head / Heads, h = head % Heads;
            int t0 = (int)((long)Tiles * chunk / Chunks), t1 = (int)((long)Tiles * (chunk + 1) / Chunks);
            if (t0 == t1) return;
            float* q = Q + b * Qs.Batch + h * Qs.Head, k = K + b * Ks.Batch + h * Ks.Head;
            float* v = V + b * Vs.Batch + h * Vs.Head, o = O + b * Os.Batch + h * Os.Head;
            int w = TV.Count, dh = Dh, nk = Nk, lanesMax = 2 * w;
            int dhp = RoundUp(dh, w);
            long bhIndex = (long)b * Heads + h;
            // scratch: Qᵀ tile (dh × lanes), Sᵀ/P (nk × lanes, + slack for the 12-row kernels reading past a
            // short tile), O tile (lanes × dhp, rounded up to 12 rows), m, l, V copy when dh is not a lane multiple.
            bool padV = dh != dhp;
            long need = (long)dh * lanesMax + ((long)nk + 1) * lanesMax + MR + (long)RoundUp(lanesMax, MR) * dhp + 2 * lanesMax
                + (padV ? (long)nk * dhp : 0) + dh + 64;
            float* qt = Scratch(need);
            float* st = qt + RoundUp(dh * lanesMax, 16);
            float* ot = st + RoundUp((nk + 1) * lanesMax + MR, 16);
            float* mv = ot + RoundUp(lanesMax, MR) * dhp, lv = mv + lanesMax, vp = lv + lanesMax;
            float* zeros = vp + (padV ? (long)nk * dhp : 0);
            new Span<float>(zeros, dh).Clear();
            long ldv = Vs.Token;
            if (padV)
            {
                CopyPadded(v, Vs.Token, nk, dh, vp, dhp);
                v = vp;
                ldv = dhp;
            }
            bool drop = DropP > 0;
            uint thr = DropThreshold(DropP);
            float keepScale = drop ? 1f / (1f - DropP) : 1f;
            for (int t = t0; t < t1; t++)
            {
                var (i0, rows, lanes) = QueryTile(t, Nq, w);
                int nv = lanes / w;
                PackTransposed<TV>(q + i0 * Qs.Token, Qs.Token, rows, lanes, dh, Scale, qt, zeros);
                // Sᵀ = K·(Qᵀ·scale): keys broadcast from their rows, queries along the lanes.
                RowsTimes<TV>(k, Ks.Token, nk, qt, lanes, dh, nv, st, lanes, acc: false);
                // Column-wise softmax numerator: P = exp(S − max), l = Σ P (before dropout, as in the reference).
                var m0 = TV.Splat(float.NegativeInfinity);
                var m1 = m0;
                for (int j = 0; j < nk; j++)
                {
                    m0 = TV.Max(m0, TV.Load(ref st[j * lanes]));
                    if (nv > 1) m1 = TV.Max(m1, TV.Load(ref st[j * lanes + w]));
                }
                var l0 = TV.Splat(0f);
                var l1 = l0;
                for (int j = 0; j < nk; j++)
                {
                    float* s = st + j * lanes;
                    var e0 = ExpSoftmax(TV.Sub(TV.Load(ref s[0]), m0));
                    TV.Store(e0, ref s[0]);
                    l0 = TV.Add(l0, e0);
                    if (nv > 1)
                    {
                        var e1 = ExpSoftmax(TV.Sub(TV.Load(ref s[w]), m1));
                        TV.Store(e1, ref s[w]);
                        l1 = TV.Add(l1, e1);
                    }
                }
                // mv: the log-sum-exp m + log l (vectorised where available), lv: 1 / l.
                bool vecLog = typeof(TV) == typeof(V512) && Avx512F.IsSupported;
                TV.Store(vecLog ? TV.Add(m0, LogAtLeastOne(l0)) : m0, ref mv[0]);
                TV.Store(vecLog ? TV.Div(TV.Splat(1f), l0) : l0, ref lv[0]);
                if (nv > 1)
                {
                    TV.Store(vecLog ? TV.Add(m1, LogAtLeastOne(l1)) : m1, ref mv[w]);
                    TV.Store(vecLog ? TV.Div(TV.Splat(1f), l1) : l1, ref lv[w]);
                }
                if (!vecLog)
                {
                    for (int i = 0; i < rows; i++)
                    {
                        mv[i] += MathF.Log(lv[i]);
                        lv[i] = 1f / lv[i];
                    }
                }
                if (Probs != null)
                {
                    // The normalised probabilities, before dropout (the backward regenerates the mask).
                    float* pd = ProbTile(Probs, bhIndex, Nq, nk, i0);
                    // Streaming stores (rows of 16 or 32 floats from an aligned tile start): the backward reads them back
                    // much later, so caching them (and first reading the lines in for ownership) only costs bandwidth.
                    bool stream = typeof(TV) == typeof(V512) && Avx512F.IsSupported;
                    SaveProbabilities<TV>(st, pd, nk, nv, lv, stream);
                }
                if (drop)
                {
                    for (int j = 0; j < nk; j++)
                    {
                        float* s = st + j * lanes;
                        for (int i = 0; i < rows; i++) if (!Keep(Seed, bhIndex, i0 + i, j, thr)) s[i] = 0f; else s[i] *= keepScale;
                    }
                }
                // O tile = P·V: P (queries × keys) is Sᵀ read as a packed A panel.
                PackedTimes<TV>(st, lanes, rows, v, ldv, nk, dhp, ot, dhp);
                for (int i = 0; i < rows; i++) ScaleRow<TV>(ot + i * dhp, o + (long)(i0 + i) * Os.Token, dh, lv[i]);
                if (Lse != null) new Span<float>(mv, rows).CopyTo(new Span<float>(Lse + bhIndex * Nq + i0, rows));
            }
        }
    }

    private struct BwdJob : IParallelJob
    {
        public float* Q, K, V, O, Lse, Probs, DO, DQ, DK, DV;
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

        [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
        private readonly void Run<TV>(int head) where TV : struct, IVec<TV>
        {
            int b = head / Heads, h = head % Heads, dh = Dh, nk = Nk, nq = Nq;
            float* q = Q + b * Qs.Batch + h * Qs.Head, k = K + b * Ks.Batch + h * Ks.Head;
            float* v = V + b * Vs.Batch + h * Vs.Head, o = O + b * Os.Batch + h * Os.Head, dout = DO + b * DOs.Batch + h * DOs.Head;
            float* dq = DQ + b * DQs.Batch + h * DQs.Head, dk = DK + b * DKs.Batch + h * DKs.Head, dv = DV + b * DVs.Batch + h * DVs.Head;
            float* lse = Lse + (long)head * nq;
            int w = TV.Count, lanesMax = 2 * w, dhp = RoundUp(dh, w);
            bool padK = dh != dhp;
            long bhIndex = (long)b * Heads + h;
            // scratch: Qᵀ·scale and dOᵀ tiles (dh × lanes); Q and dO tiles as padded rows (lanes × dhp); Sᵀ→P and
            // dPᵀ→dSᵀ (nk × lanes, + slack); dQ tile (lanes × dhp); dK and dV accumulators (nk × dhp); lse and D
            // lanes; K copy when dh is not a lane multiple.
            long tile = RoundUp(dh * lanesMax, 16), rowsT = (long)RoundUp(lanesMax, MR) * dhp, st = RoundUp((nk + 1) * lanesMax + MR, 16);
            long acc = (long)nk * dhp;
            float* qt = Scratch(2 * tile + 3 * rowsT + 2 * st + 2 * acc + 2 * lanesMax + (padK ? acc : 0) + dh + 64);
            float* gt = qt + tile, qr = gt + tile, gr = qr + rowsT, dqt = gr + rowsT;
            float* ptScratch = dqt + rowsT, dpt = ptScratch + st, dka = dpt + st, dva = dka + acc, lv = dva + acc, dvec = lv + lanesMax, kp = dvec + lanesMax;
            float* zeros = kp + (padK ? acc : 0);
            new Span<float>(zeros, dh).Clear();
            long ldk = Ks.Token;
            if (padK)
            {
                CopyPadded(k, Ks.Token, nk, dh, kp, dhp);
                ldk = dhp;
            }
            else kp = k;
            new Span<float>(dka, (int)(2 * acc)).Clear();
            if (padK) new Span<float>(qr, (int)(2 * rowsT)).Clear();
            bool drop = DropP > 0;
            uint thr = DropThreshold(DropP);
            float keepScale = drop ? 1f / (1f - DropP) : 1f;
            int tiles = (nq + lanesMax - 1) / lanesMax;
            for (int t = 0; t < tiles; t++)
            {
                var (i0, rows, lanes) = QueryTile(t, nq, w);
                int nv = lanes / w;
                bool saved = Probs != null;
                if (!saved) PackTransposed<TV>(q + i0 * Qs.Token, Qs.Token, rows, lanes, dh, Scale, qt, zeros);
                PackTransposed<TV>(dout + i0 * DOs.Token, DOs.Token, rows, lanes, dh, 1f, gt, zeros);
                // B operands of dK and dV: the tile's Q and dO rows, read in place unless dh needs padding to
                // whole registers (then copied with zero columns).
                float* qb = q + i0 * Qs.Token, gb = dout + i0 * DOs.Token;
                long ldqb = Qs.Token, ldgb = DOs.Token;
                if (padK)
                {
                    for (int i = 0; i < rows; i++)
                    {
                        ScaleRow<TV>(qb + i * Qs.Token, qr + i * dhp, dh, 1f);
                        ScaleRow<TV>(gb + i * DOs.Token, gr + i * dhp, dh, 1f);
                    }
                    qb = qr;
                    gb = gr;
                    ldqb = ldgb = dhp;
                }
                // D_i = Σ dO_i·O_i (equals Σ_j P_ij dP_ij, dropout included); padded lanes get dP = 0 and D = 0, so
                // dS = 0 there, and they are left out of the dK, dV products. Without dropout D is summed from P and dP
                // (in cache) instead: O's rows would come from memory.
                bool dFromP = !drop && DFromP;
                for (int i = 0; i < lanes; i++)
                {
                    if (!dFromP) dvec[i] = i < rows ? Dot<TV>(dout + (long)(i0 + i) * DOs.Token, o + (long)(i0 + i) * Os.Token, dh) : 0;
                    lv[i] = i < rows ? lse[i0 + i] : 0;
                }
                // P: the saved probabilities (read in place unless dropout rewrites them), or Sᵀ to exponentiate below.
                float* pt = ptScratch;
                if (saved)
                {
                    float* ps = ProbTile(Probs, bhIndex, nq, nk, i0);
                    if (drop) new Span<float>(ps, nk * lanes).CopyTo(new Span<float>(pt, nk * lanes));
                    else pt = ps;
                }
                else RowsTimes<TV>(k, Ks.Token, nk, qt, lanes, dh, nv, pt, lanes, acc: false);
                RowsTimes<TV>(v, Vs.Token, nk, gt, lanes, dh, nv, dpt, lanes, acc: false);    // dPᵀ = V·dOᵀ
                // dS is stored pre-multiplied by the score scale, which both dQ = dS·K·scale and dK = dSᵀ·Q·scale
                // need, so neither product is rescaled afterwards.
                if (!drop) ScoreGradients<TV>(pt, dpt, nk, nv, lv, dvec, Scale, saved, dFromP);
                else
                {
                    for (int j = 0; j < nk; j++)
                    {
                        float* p = pt + j * lanes, dp = dpt + j * lanes;
                        for (int i = 0; i < lanes; i++)
                        {
                            float pj = saved ? p[i] : VMath.Exp(new V1(p[i] - lv[i])).V;
                            float m = i < rows && Keep(Seed, bhIndex, i0 + i, j, thr) ? keepScale : 0f;
                            // dp becomes dS = P∘(dP̃·M/(1−p) − D); p becomes the dropped probability used for dV
                            dp[i] = pj * Scale * (dp[i] * m - dvec[i]);
                            p[i] = pj * m;
                        }
                    }
                }
                // dV += P̃ᵀ·dO ; dK += dSᵀ·Q: keys as rows, this tile's valid queries as the inner dimension.
                RowsTimes<TV>(pt, lanes, nk, gb, ldgb, rows, dhp / w, dva, dhp, acc: true);
                RowsTimes<TV>(dpt, lanes, nk, qb, ldqb, rows, dhp / w, dka, dhp, acc: true);
                // dQ tile = dS·K for the valid rows: dSᵀ read as a packed A panel, stored in place when dh is a
                // lane multiple. (dK and dV stay in scratch accumulators until the end: storing each tile's
                // products straight into a strided dqkv was clearly slower with two threads.)
                if (!padK) PackedTimes<TV>(dpt, lanes, rows, kp, ldk, nk, dhp, dq + i0 * DQs.Token, DQs.Token);
                else
                {
                    PackedTimes<TV>(dpt, lanes, rows, kp, ldk, nk, dhp, dqt, dhp);
                    for (int i = 0; i < rows; i++) ScaleRow<TV>(dqt + i * dhp, dq + (long)(i0 + i) * DQs.Token, dh, 1f);
                }
            }
            for (int j = 0; j < nk; j++)
            {
                ScaleRow<TV>(dka + (long)j * dhp, dk + j * DKs.Token, dh, 1f);
                ScaleRow<TV>(dva + (long)j * dhp, dv + j * DVs.Token, dh, 1f);
            }
        }
    }

    /// <summary>dst[d·lanes + i] = src[i·stride + d]·scale for i &lt; rows, zero for rows ≤ i &lt; lanes.
    /// <paramref name="zeros"/>: dh readable zeros standing in for the rows past the valid ones.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void PackTransposed<TV>(float* src, long stride, int rows, int lanes, int dh, float scale, float* dst, float* zeros)
        where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V1) || !Avx.IsSupported)
        {
            for (int i = 0; i < lanes; i++)
            {
                float* s = i < rows ? src + i * stride : zeros;
                for (int x = 0; x < dh; x++) dst[x * lanes + i] = s[x] * scale;
            }
            return;
        }
        // 8×8 register transposes: 8 loads, 24 shuffles, 8 stores per 64 floats instead of 64 scalar moves.
        int x8 = dh / 8 * 8;
        var sv = Vector256.Create(scale);
        for (int g = 0; g < lanes; g += 8)
        {
            float* p0 = Row(src, stride, g, rows, zeros), p1 = Row(src, stride, g + 1, rows, zeros);
            float* p2 = Row(src, stride, g + 2, rows, zeros), p3 = Row(src, stride, g + 3, rows, zeros);
            float* p4 = Row(src, stride, g + 4, rows, zeros), p5 = Row(src, stride, g + 5, rows, zeros);
            float* p6 = Row(src, stride, g + 6, rows, zeros), p7 = Row(src, stride, g + 7, rows, zeros);
            for (int x = 0; x < x8; x += 8)
            {
                var t0 = Avx.UnpackLow(Avx.LoadVector256(p0 + x), Avx.LoadVector256(p1 + x));
                var t1 = Avx.UnpackHigh(Avx.LoadVector256(p0 + x), Avx.LoadVector256(p1 + x));
                var t2 = Avx.UnpackLow(Avx.LoadVector256(p2 + x), Avx.LoadVector256(p3 + x));
                var t3 = Avx.UnpackHigh(Avx.LoadVector256(p2 + x), Avx.LoadVector256(p3 + x));
                var t4 = Avx.UnpackLow(Avx.LoadVector256(p4 + x), Avx.LoadVector256(p5 + x));
                var t5 = Avx.UnpackHigh(Avx.LoadVector256(p4 + x), Avx.LoadVector256(p5 + x));
                var t6 = Avx.UnpackLow(Avx.LoadVector256(p6 + x), Avx.LoadVector256(p7 + x));
                var t7 = Avx.UnpackHigh(Avx.LoadVector256(p6 + x), Avx.LoadVector256(p7 + x));
                var u0 = Avx.Shuffle(t0, t2, 0x44);
                var u1 = Avx.Shuffle(t0, t2, 0xEE);
                var u2 = Avx.Shuffle(t1, t3, 0x44);
                var u3 = Avx.Shuffle(t1, t3, 0xEE);
                var u4 = Avx.Shuffle(t4, t6, 0x44);
                var u5 = Avx.Shuffle(t4, t6, 0xEE);
                var u6 = Avx.Shuffle(t5, t7, 0x44);
                var u7 = Avx.Shuffle(t5, t7, 0xEE);
                float* d = dst + x * lanes + g;
                Avx.Store(d, Avx.Permute2x128(u0, u4, 0x20) * sv);
                Avx.Store(d + lanes, Avx.Permute2x128(u1, u5, 0x20) * sv);
                Avx.Store(d + 2 * lanes, Avx.Permute2x128(u2, u6, 0x20) * sv);
                Avx.Store(d + 3 * lanes, Avx.Permute2x128(u3, u7, 0x20) * sv);
                Avx.Store(d + 4 * lanes, Avx.Permute2x128(u0, u4, 0x31) * sv);
                Avx.Store(d + 5 * lanes, Avx.Permute2x128(u1, u5, 0x31) * sv);
                Avx.Store(d + 6 * lanes, Avx.Permute2x128(u2, u6, 0x31) * sv);
                Avx.Store(d + 7 * lanes, Avx.Permute2x128(u3, u7, 0x31) * sv);
            }
            for (int x = x8; x < dh; x++)
            {
                float* d = dst + x * lanes + g;
                d[0] = p0[x] * scale; d[1] = p1[x] * scale; d[2] = p2[x] * scale; d[3] = p3[x] * scale;
                d[4] = p4[x] * scale; d[5] = p5[x] * scale; d[6] = p6[x] * scale; d[7] = p7[x] * scale;
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float* Row(float* src, long stride, int i, int rows, float* zeros) => i < rows ? src + i * stride : zeros;

    /// <summary>
    /// e^x for the softmax arguments (x ≤ ~0, never NaN): as <see cref="VMath.Exp{TV}"/> but with AVX-512's
    /// scalef doing the 2^n scaling in one instruction; x below −87 gives e^−87 (≈1.6e−38, still a normal float,
    /// negligible against the row maximum's 1).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV ExpSoftmax<TV>(TV x) where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V512) && Avx512F.IsSupported)
        {
            var v = Avx512F.Max(Vector512.Create(-87f), Unsafe.As<TV, V512>(ref x).V);
            var n = Vector512.Round(v * Vector512.Create(1.44269504088896341f));
            var r = Vector512.FusedMultiplyAdd(n, Vector512.Create(-0.693359375f), v);
            r = Vector512.FusedMultiplyAdd(n, Vector512.Create(2.12194440e-4f), r);
            var p = Vector512.Create(1.382942432e-03f);
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(8.374774508e-03f));
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.166835816e-02f));
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.666642080e-01f));
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(4.999999149e-01f));
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.000000036e+00f));
            p = Vector512.FusedMultiplyAdd(p, r, Vector512.Create(1.000000001e+00f));
            var e = new V512(Avx512F.Scale(p, n));
            return Unsafe.As<V512, TV>(ref e);
        }
        return VMath.Exp(x);
    }

    /// <summary>
    /// ln x for x ≥ 1 (softmax sums; V512 only): x = 2^e·m with m from getmant folded into [√½, √2), then
    /// ln m = 2·atanh(s), s = (m − 1)/(m + 1), |s| ≤ 0.172, by its series to s⁹ (truncation below 4e−10).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static TV LogAtLeastOne<TV>(TV x) where TV : struct, IVec<TV>
    {
        var v = Unsafe.As<TV, V512>(ref x).V;
        var e = Avx512F.GetExponent(v);
        var m = Avx512F.GetMantissa(v, 0); // [1, 2)
        var big = Vector512.GreaterThan(m, Vector512.Create(1.41421356f));
        m = Vector512.ConditionalSelect(big, m * 0.5f, m);
        e = Vector512.ConditionalSelect(big, e + Vector512<float>.One, e);
        var sv = (m - Vector512<float>.One) / (m + Vector512<float>.One);
        var s2 = sv * sv;
        var p = Vector512.FusedMultiplyAdd(Vector512.Create(2f / 9), s2, Vector512.Create(2f / 7));
        p = Vector512.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 5));
        p = Vector512.FusedMultiplyAdd(p, s2, Vector512.Create(2f / 3));
        p = Vector512.FusedMultiplyAdd(p, s2, Vector512.Create(2f));
        var r = new V512(Vector512.FusedMultiplyAdd(e, Vector512.Create(0.693147181f), p * sv));
        return Unsafe.As<V512, TV>(ref r);
    }

    /// <summary>Rows of a strided operand into a dense copy with row stride ld, columns dh..ld zero.</summary>
    private static void CopyPadded(float* src, long stride, int n, int dh, float* dst, int ld)
    {
        for (int j = 0; j < n; j++)
        {
            new Span<float>(src + j * stride, dh).CopyTo(new Span<float>(dst + (long)j * ld, dh));
            new Span<float>(dst + (long)j * ld + dh, ld - dh).Clear();
        }
    }

    /// <summary>dst[0..n) = src[0..n)·a.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void ScaleRow<TV>(float* src, float* dst, int n, float a) where TV : struct, IVec<TV>
    {
        int i = 0;
        var va = TV.Splat(a);
        for (; i <= n - TV.Count; i += TV.Count) TV.Store(TV.Mul(TV.Load(ref src[i]), va), ref dst[i]);
        for (; i < n; i++) dst[i] = src[i] * a;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot<TV>(float* x, float* y, int n) where TV : struct, IVec<TV>
    {
        int i = 0;
        float s = 0;
        if (n >= TV.Count)
        {
            var acc = TV.Splat(0f);
            for (; i <= n - TV.Count; i += TV.Count) acc = TV.Fma(TV.Load(ref x[i]), TV.Load(ref y[i]), acc);
            s = TV.Sum(acc);
        }
        for (; i < n; i++) s += x[i] * y[i];
        return s;
    }

    /// <summary>
    /// C (m × nv·w, row stride ldc) (+)= A·B with A's rows strided (element (r, p) at a[r·lda + p]) and B dense
    /// (kdim × nv·w, row stride ldb), in 12-row micro-tiles (8 or 4 for the tail, surplus rows re-reading row 0
    /// and never stored).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowsTimes<TV>(float* a, long lda, int m, float* b, long ldb, int kdim, int nv, float* c, long ldc, bool acc)
        where TV : struct, IVec<TV>
    {
        int w = TV.Count;
        int first = typeof(TV) == typeof(V512) && Use512 && Avx512F.IsSupported ? RowsTimes512(a, lda, m, b, ldb, kdim, nv, c, ldc, acc) : 0;
        if (first == m) return;
        for (int c0 = 0; c0 < nv; c0 += 2)
        {
            bool two = nv - c0 >= 2;
            float* bc = b + c0 * w, cc = c + c0 * w;
            int r0 = first;
            for (; r0 + MR <= m; r0 += MR) RowsTile<TV, R12>(a + r0 * lda, lda, MR, bc, ldb, cc + r0 * ldc, ldc, kdim, two, acc);
            int rest = m - r0;
            if (rest > 8) RowsTile<TV, R12>(a + r0 * lda, lda, rest, bc, ldb, cc + r0 * ldc, ldc, kdim, two, acc);
            else if (rest > 4) RowsTile<TV, R8>(a + r0 * lda, lda, rest, bc, ldb, cc + r0 * ldc, ldc, kdim, two, acc);
            else if (rest > 0) RowsTile<TV, R4>(a + r0 * lda, lda, rest, bc, ldb, cc + r0 * ldc, ldc, kdim, two, acc);
        }
    }

    /// <summary>
    /// C (lanes × ncols, row stride ldc) = A·B with A packed (element (r, p) at a[p·lda + r], r &lt; lanes, the
    /// panel readable up to 12 rows past lanes) and B strided rows (kdim × ncols, ncols a lane multiple).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackedTimes<TV>(float* a, long lda, int lanes, float* b, long ldb, int kdim, int ncols, float* c, long ldc)
        where TV : struct, IVec<TV>
    {
        if (typeof(TV) == typeof(V512) && Use512 && Avx512F.IsSupported)
        {
            PackedTimes512(a, lda, lanes, b, ldb, kdim, ncols, c, ldc);
            return;
        }
        int w = TV.Count;
        for (int j = 0; j < ncols; j += 2 * w)
        {
            bool two = ncols - j >= 2 * w;
            int r0 = 0;
            for (; r0 + MR <= lanes; r0 += MR) PackedTile<TV, R12>(a + r0, lda, MR, b + j, ldb, c + r0 * ldc + j, ldc, kdim, two, false);
            int rest = lanes - r0;
            if (rest > 8) PackedTile<TV, R12>(a + r0, lda, rest, b + j, ldb, c + r0 * ldc + j, ldc, kdim, two, false);
            else if (rest > 4) PackedTile<TV, R8>(a + r0, lda, rest, b + j, ldb, c + r0 * ldc + j, ldc, kdim, two, false);
            else if (rest > 0) PackedTile<TV, R4>(a + r0, lda, rest, b + j, ldb, c + r0 * ldc + j, ldc, kdim, two, false);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void RowsTile<TV, TR>(float* a, long ars, int rows, float* b, long ldb, float* c, long ldc, int kdim, bool two, bool acc)
        where TV : struct, IVec<TV> where TR : struct, IRows
    {
        if (two) MkRows<TV, TR, Two>(a, ars, rows, b, ldb, c, ldc, kdim, acc);
        else MkRows<TV, TR, One>(a, ars, rows, b, ldb, c, ldc, kdim, acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void PackedTile<TV, TR>(float* a, long aks, int rows, float* b, long ldb, float* c, long ldc, int kdim, bool two, bool acc)
        where TV : struct, IVec<TV> where TR : struct, IRows
    {
        if (two) MkPacked<TV, TR, Two>(a, aks, rows, b, ldb, c, ldc, kdim, acc);
        else MkPacked<TV, TR, One>(a, aks, rows, b, ldb, c, ldc, kdim, acc);
    }

    internal interface IRows
    {
        static abstract int Count { get; }
    }

    private struct R4 : IRows { public static int Count => 4; }
    private struct R8 : IRows { public static int Count => 8; }
    private struct R12 : IRows { public static int Count => 12; }
    private struct One : IRows { public static int Count => 1; }
    private struct Two : IRows { public static int Count => 2; }

    /// <summary>
    /// C[TR rows × TN registers] (+)= A·B, A with strided rows (element (r, p) at a[r·ars + p]). Rows at or past
    /// <paramref name="rows"/> read row 0 (always valid memory) and are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void MkRows<TV, TR, TN>(float* a, long ars, int rows, float* b, long ldb, float* c, long ldc, int kdim, bool acc)
        where TV : struct, IVec<TV> where TR : struct, IRows where TN : struct, IRows
    {
        int w = TV.Count;
        var z = TV.Splat(0f);
        TV c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
        TV c60 = z, c61 = z, c70 = z, c71 = z, c80 = z, c81 = z, c90 = z, c91 = z, ca0 = z, ca1 = z, cb0 = z, cb1 = z;
        float* a0 = a, a1 = rows > 1 ? a + ars : a, a2 = rows > 2 ? a + 2 * ars : a, a3 = rows > 3 ? a + 3 * ars : a;
        float* a4 = a, a5 = a, a6 = a, a7 = a, a8 = a, a9 = a, aa = a, ab = a;
        if (TR.Count > 4)
        {
            a4 = rows > 4 ? a + 4 * ars : a; a5 = rows > 5 ? a + 5 * ars : a; a6 = rows > 6 ? a + 6 * ars : a; a7 = rows > 7 ? a + 7 * ars : a;
        }
        if (TR.Count > 8)
        {
            a8 = rows > 8 ? a + 8 * ars : a; a9 = rows > 9 ? a + 9 * ars : a; aa = rows > 10 ? a + 10 * ars : a; ab = rows > 11 ? a + 11 * ars : a;
        }
        for (int p = 0; p < kdim; p++)
        {
            var b0 = TV.Load(ref b[0]);
            var b1 = TN.Count > 1 ? TV.Load(ref b[w]) : z;
            TV x;
            x = TV.Splat(a0[p]); c00 = TV.Fma(x, b0, c00); if (TN.Count > 1) c01 = TV.Fma(x, b1, c01);
            x = TV.Splat(a1[p]); c10 = TV.Fma(x, b0, c10); if (TN.Count > 1) c11 = TV.Fma(x, b1, c11);
            x = TV.Splat(a2[p]); c20 = TV.Fma(x, b0, c20); if (TN.Count > 1) c21 = TV.Fma(x, b1, c21);
            x = TV.Splat(a3[p]); c30 = TV.Fma(x, b0, c30); if (TN.Count > 1) c31 = TV.Fma(x, b1, c31);
            if (TR.Count > 4)
            {
                x = TV.Splat(a4[p]); c40 = TV.Fma(x, b0, c40); if (TN.Count > 1) c41 = TV.Fma(x, b1, c41);
                x = TV.Splat(a5[p]); c50 = TV.Fma(x, b0, c50); if (TN.Count > 1) c51 = TV.Fma(x, b1, c51);
                x = TV.Splat(a6[p]); c60 = TV.Fma(x, b0, c60); if (TN.Count > 1) c61 = TV.Fma(x, b1, c61);
                x = TV.Splat(a7[p]); c70 = TV.Fma(x, b0, c70); if (TN.Count > 1) c71 = TV.Fma(x, b1, c71);
            }
            if (TR.Count > 8)
            {
                x = TV.Splat(a8[p]); c80 = TV.Fma(x, b0, c80); if (TN.Count > 1) c81 = TV.Fma(x, b1, c81);
                x = TV.Splat(a9[p]); c90 = TV.Fma(x, b0, c90); if (TN.Count > 1) c91 = TV.Fma(x, b1, c91);
                x = TV.Splat(aa[p]); ca0 = TV.Fma(x, b0, ca0); if (TN.Count > 1) ca1 = TV.Fma(x, b1, ca1);
                x = TV.Splat(ab[p]); cb0 = TV.Fma(x, b0, cb0); if (TN.Count > 1) cb1 = TV.Fma(x, b1, cb1);
            }
            b += ldb;
        }
        Store<TV, TN>(c, ldc, 0, rows, c00, c01, acc);
        Store<TV, TN>(c, ldc, 1, rows, c10, c11, acc);
        Store<TV, TN>(c, ldc, 2, rows, c20, c21, acc);
        Store<TV, TN>(c, ldc, 3, rows, c30, c31, acc);
        if (TR.Count > 4)
        {
            Store<TV, TN>(c, ldc, 4, rows, c40, c41, acc);
            Store<TV, TN>(c, ldc, 5, rows, c50, c51, acc);
            Store<TV, TN>(c, ldc, 6, rows, c60, c61, acc);
            Store<TV, TN>(c, ldc, 7, rows, c70, c71, acc);
        }
        if (TR.Count > 8)
        {
            Store<TV, TN>(c, ldc, 8, rows, c80, c81, acc);
            Store<TV, TN>(c, ldc, 9, rows, c90, c91, acc);
            Store<TV, TN>(c, ldc, 10, rows, ca0, ca1, acc);
            Store<TV, TN>(c, ldc, 11, rows, cb0, cb1, acc);
        }
    }

    /// <summary>
    /// C[TR rows × TN registers] (+)= A·B, A packed (element (r, p) at a[p·aks + r]; all TR rows readable).
    /// Rows at or past <paramref name="rows"/> are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void MkPacked<TV, TR, TN>(float* a, long aks, int rows, float* b, long ldb, float* c, long ldc, int kdim, bool acc)
        where TV : struct, IVec<TV> where TR : struct, IRows where TN : struct, IRows
    {
        int w = TV.Count;
        var z = TV.Splat(0f);
        TV c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z, c50 = z, c51 = z;
        TV c60 = z, c61 = z, c70 = z, c71 = z, c80 = z, c81 = z, c90 = z, c91 = z, ca0 = z, ca1 = z, cb0 = z, cb1 = z;
        for (int p = 0; p < kdim; p++)
        {
            var b0 = TV.Load(ref b[0]);
            var b1 = TN.Count > 1 ? TV.Load(ref b[w]) : z;
            TV x;
            x = TV.Splat(a[0]); c00 = TV.Fma(x, b0, c00); if (TN.Count > 1) c01 = TV.Fma(x, b1, c01);
            x = TV.Splat(a[1]); c10 = TV.Fma(x, b0, c10); if (TN.Count > 1) c11 = TV.Fma(x, b1, c11);
            x = TV.Splat(a[2]); c20 = TV.Fma(x, b0, c20); if (TN.Count > 1) c21 = TV.Fma(x, b1, c21);
            x = TV.Splat(a[3]); c30 = TV.Fma(x, b0, c30); if (TN.Count > 1) c31 = TV.Fma(x, b1, c31);
            if (TR.Count > 4)
            {
                x = TV.Splat(a[4]); c40 = TV.Fma(x, b0, c40); if (TN.Count > 1) c41 = TV.Fma(x, b1, c41);
                x = TV.Splat(a[5]); c50 = TV.Fma(x, b0, c50); if (TN.Count > 1) c51 = TV.Fma(x, b1, c51);
                x = TV.Splat(a[6]); c60 = TV.Fma(x, b0, c60); if (TN.Count > 1) c61 = TV.Fma(x, b1, c61);
                x = TV.Splat(a[7]); c70 = TV.Fma(x, b0, c70); if (TN.Count > 1) c71 = TV.Fma(x, b1, c71);
            }
            if (TR.Count > 8)
            {
                x = TV.Splat(a[8]); c80 = TV.Fma(x, b0, c80); if (TN.Count > 1) c81 = TV.Fma(x, b1, c81);
                x = TV.Splat(a[9]); c90 = TV.Fma(x, b0, c90); if (TN.Count > 1) c91 = TV.Fma(x, b1, c91);
                x = TV.Splat(a[10]); ca0 = TV.Fma(x, b0, ca0); if (TN.Count > 1) ca1 = TV.Fma(x, b1, ca1);
                x = TV.Splat(a[11]); cb0 = TV.Fma(x, b0, cb0); if (TN.Count > 1) cb1 = TV.Fma(x, b1, cb1);
            }
            a += aks;
            b += ldb;
        }
        Store<TV, TN>(c, ldc, 0, rows, c00, c01, acc);
        Store<TV, TN>(c, ldc, 1, rows, c10, c11, acc);
        Store<TV, TN>(c, ldc, 2, rows, c20, c21, acc);
        Store<TV, TN>(c, ldc, 3, rows, c30, c31, acc);
        if (TR.Count > 4)
        {
            Store<TV, TN>(c, ldc, 4, rows, c40, c41, acc);
            Store<TV, TN>(c, ldc, 5, rows, c50, c51, acc);
            Store<TV, TN>(c, ldc, 6, rows, c60, c61, acc);
            Store<TV, TN>(c, ldc, 7, rows, c70, c71, acc);
        }
        if (TR.Count > 8)
        {
            Store<TV, TN>(c, ldc, 8, rows, c80, c81, acc);
            Store<TV, TN>(c, ldc, 9, rows, c90, c91, acc);
            Store<TV, TN>(c, ldc, 10, rows, ca0, ca1, acc);
            Store<TV, TN>(c, ldc, 11, rows, cb0, cb1, acc);
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TV, TN>(float* c, long ldc, int r, int rows, TV v0, TV v1, bool acc)
        where TV : struct, IVec<TV> where TN : struct, IRows
    {
        if (r >= rows) return;
        float* p = c + r * ldc;
        if (acc)
        {
            v0 = TV.Add(TV.Load(ref p[0]), v0);
            if (TN.Count > 1) v1 = TV.Add(TV.Load(ref p[TV.Count]), v1);
        }
        TV.Store(v0, ref p[0]);
        if (TN.Count > 1) TV.Store(v1, ref p[TV.Count]);
    }
}
