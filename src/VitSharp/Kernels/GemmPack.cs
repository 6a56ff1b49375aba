using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Kernels;

// Packing: copies blocks of op(A) and op(B) into the contiguous micro-panel order the kernels stream. Transposes
// are absorbed here (4×4 SSE transposes where the source runs the wrong way), so the kernels only ever see one
// layout whatever the transA/transB flags are.
public static unsafe partial class Gemm
{
    internal static readonly bool PackPrefetch = EnvInt("VIT_GEMM_PACK_PF", 1, 0, 1) == 1;

    /// <summary>
    /// Packs rows [i0, i0+mc) × columns [p0, p0+kc) of op(A) into ⌈mc/MR⌉ micro-panels of MR×kc, each stored
    /// [p][MR] with missing rows zero, scaled by alpha (folding alpha here costs nothing in the kernel).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void PackA(bool transA, float* a, int lda, int i0, int mc, int p0, int kc, float alpha, float* dst, bool simd)
    {
        for (int ir = 0; ir < mc; ir += MR)
        {
            int rows = Math.Min(MR, mc - ir);
            float* d = dst + (long)ir * kc;
            if (transA)
            {
                // op(A)(i, p) = a[p*lda + i]: each p is a contiguous run of rows.
                float* s = a + (long)p0 * lda + i0 + ir;
                if (simd && rows == MR)
                {
                    var va = Vector128.Create(alpha);
                    for (int p = 0; p < kc; p++, s += lda, d += MR)
                    {
                        (Vector128.Load(s) * va).Store(d);
                        (Vector128.Load(s + 4) * va).Store(d + 4);
                        (Vector128.Load(s + 8) * va).Store(d + 8);
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, s += lda, d += MR)
                    {
                        int r = 0;
                        for (; r < rows; r++) d[r] = s[r] * alpha;
                        for (; r < MR; r++) d[r] = 0f;
                    }
                }
            }
            else
            {
                // op(A)(i, p) = a[i*lda + p]: rows are contiguous in p, so transpose 4 rows × 4 p at a time.
                float* s = a + (long)(i0 + ir) * lda + p0;
                int r = 0;
                if (simd && Sse.IsSupported)
                {
                    var va = Vector128.Create(alpha);
                    for (; r + 4 <= rows; r += 4)
                    {
                        float* s0 = s + (long)r * lda, s1 = s0 + lda, s2 = s1 + lda, s3 = s2 + lda;
                        int p = 0;
                        // The next 4 rows (in this micro-panel or the next one) come from memory: ask for their
                        // lines a group ahead, a line per row every 16 steps.
                        float* n0 = s3 + lda;
                        for (; p + 4 <= kc; p += 4)
                        {
                            if ((p & 15) == 0 && PackPrefetch)
                            {
                                Sse.Prefetch0(n0 + p);
                                Sse.Prefetch0(n0 + lda + p);
                                Sse.Prefetch0(n0 + 2 * lda + p);
                                Sse.Prefetch0(n0 + 3 * lda + p);
                            }
                            Transpose4(Vector128.Load(s0 + p) * va, Vector128.Load(s1 + p) * va, Vector128.Load(s2 + p) * va,
                                Vector128.Load(s3 + p) * va, d + p * MR + r, MR);
                        }
                        for (; p < kc; p++)
                        {
                            float* dp = d + p * MR + r;
                            dp[0] = s0[p] * alpha; dp[1] = s1[p] * alpha; dp[2] = s2[p] * alpha; dp[3] = s3[p] * alpha;
                        }
                    }
                }
                for (; r < rows; r++)
                {
                    float* sr = s + (long)r * lda;
                    for (int p = 0; p < kc; p++) d[p * MR + r] = sr[p] * alpha;
                }
                for (; r < MR; r++)
                {
                    for (int p = 0; p < kc; p++) d[p * MR + r] = 0f;
                }
            }
        }
    }

    /// <summary>
    /// Packs rows [p0, p0+kc) × columns [j0, j0+nc) of op(B) into ⌈nc/NR⌉ micro-panels of kc×NR, each stored
    /// [p][NR] with missing columns zero.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    internal static void PackB(bool transB, float* b, int ldb, int p0, int kc, int j0, int nc, float* dst, bool simd)
    {
        int full = nc / NR;
        if (!transB && simd && full > 0)
        {
            // Row p of op(B) is contiguous: read it once across all full panels (sequential reads, one page per row)
            // rather than panel by panel (one page touch per row per panel).
            float* src = b + (long)p0 * ldb + j0;
            long panel = (long)kc * NR;
            for (int p = 0; p < kc; p++, src += ldb)
            {
                float* d = dst + p * NR;
                for (int q = 0; q < full; q++, d += panel)
                {
                    Vector256.Load(src + q * NR).Store(d);
                    Vector256.Load(src + q * NR + 8).Store(d + 8);
                    Vector256.Load(src + q * NR + 16).Store(d + 16);
                    Vector256.Load(src + q * NR + 24).Store(d + 24);
                }
            }
            if (full * NR == nc) return;
            PackBPanels(transB, b, ldb, p0, kc, j0 + full * NR, nc - full * NR, dst + full * panel, simd);
            return;
        }
        PackBPanels(transB, b, ldb, p0, kc, j0, nc, dst, simd);
    }

    private static void PackBPanels(bool transB, float* b, int ldb, int p0, int kc, int j0, int nc, float* dst, bool simd)
    {
        for (int jr = 0; jr < nc; jr += NR)
        {
            int cols = Math.Min(NR, nc - jr);
            float* d = dst + (long)jr * kc;
            if (!transB)
            {
                // op(B)(p, j) = b[p*ldb + j]: each p is a contiguous run of columns.
                float* s = b + (long)p0 * ldb + j0 + jr;
                if (simd && cols == NR)
                {
                    for (int p = 0; p < kc; p++, s += ldb, d += NR)
                    {
                        Vector256.Load(s).Store(d);
                        Vector256.Load(s + 8).Store(d + 8);
                        Vector256.Load(s + 16).Store(d + 16);
                        Vector256.Load(s + 24).Store(d + 24);
                    }
                }
                else
                {
                    for (int p = 0; p < kc; p++, s += ldb, d += NR)
                    {
                        int j = 0;
                        for (; j < cols; j++) d[j] = s[j];
                        for (; j < NR; j++) d[j] = 0f;
                    }
                }
            }
            else
            {
                // op(B)(p, j) = b[j*ldb + p]: columns of op(B) are contiguous in p; transpose 4 j × 4 p at a time.
                float* s = b + (long)(j0 + jr) * ldb + p0;
                int j = 0;
                if (simd && Sse.IsSupported)
                {
                    for (; j + 4 <= cols; j += 4)
                    {
                        float* s0 = s + (long)j * ldb, s1 = s0 + ldb, s2 = s1 + ldb, s3 = s2 + ldb;
                        int p = 0;
                        for (; p + 4 <= kc; p += 4)
                        {
                            Transpose4(Vector128.Load(s0 + p), Vector128.Load(s1 + p), Vector128.Load(s2 + p),
                                Vector128.Load(s3 + p), d + p * NR + j, NR);
                        }
                        for (; p < kc; p++)
                        {
                            float* dp = d + p * NR + j;
                            dp[0] = s0[p]; dp[1] = s1[p]; dp[2] = s2[p]; dp[3] = s3[p];
                        }
                    }
                }
                for (; j < cols; j++)
                {
                    float* sj = s + (long)j * ldb;
                    for (int p = 0; p < kc; p++) d[p * NR + j] = sj[p];
                }
                for (; j < NR; j++)
                {
                    for (int p = 0; p < kc; p++) d[p * NR + j] = 0f;
                }
            }
        }
    }

    /// <summary>Writes the transpose of the 4×4 block (rows r0..r3) to d, d+ld, d+2ld, d+3ld.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose4(Vector128<float> r0, Vector128<float> r1, Vector128<float> r2, Vector128<float> r3, float* d, int ld)
    {
        var t0 = Sse.UnpackLow(r0, r1);  // a0 b0 a1 b1
        var t1 = Sse.UnpackLow(r2, r3);  // c0 d0 c1 d1
        var t2 = Sse.UnpackHigh(r0, r1); // a2 b2 a3 b3
        var t3 = Sse.UnpackHigh(r2, r3); // c2 d2 c3 d3
        Sse.MoveLowToHigh(t0, t1).Store(d);
        Sse.MoveHighToLow(t1, t0).Store(d + ld);
        Sse.MoveLowToHigh(t2, t3).Store(d + 2 * ld);
        Sse.MoveHighToLow(t3, t2).Store(d + 3 * ld);
    }
}
