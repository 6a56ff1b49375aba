using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Kernels;

/// <summary>
/// AVX-512 forms of the attention micro-kernels, on raw <see cref="Vector512{T}"/> as <c>Gemm.Kernel512</c> is: the
/// generic <see cref="IVec{TSelf}"/> forms compile to an extra register move after every second FMA and, with twelve
/// separate row pointers, spill pointers in the inner loop. In-process A/B: the backward at ViT-Tiny batch 32 3.5 %
/// faster, the forward unchanged (its products were not the limit), the ViT-Tiny training step 2 % faster.
/// </summary>
public static unsafe partial class Attention
{
    /// <summary>The whole 12-row micro-tiles of <see cref="RowsTimes{TV}"/> on AVX-512; returns the rows done. The last,
    /// partial tile is left to the caller's generic kernel, since this one reads all 12 rows.</summary>
    private static int RowsTimes512(float* a, long lda, int m, float* b, long ldb, int kdim, int nv, float* c, long ldc, bool acc)
    {
        int full = m / MR * MR;
        for (int c0 = 0; c0 < nv; c0 += 2)
        {
            bool two = nv - c0 >= 2;
            float* bc = b + c0 * 16, cc = c + c0 * 16;
            for (int r0 = 0; r0 < full; r0 += MR)
            {
                float* ar = a + r0 * lda, cr = cc + r0 * ldc;
                if (two) Tile512<R12, Two>(ar, lda, 1, MR, bc, ldb, cr, ldc, kdim, acc);
                else Tile512<R12, One>(ar, lda, 1, MR, bc, ldb, cr, ldc, kdim, acc);
            }
        }
        return full;
    }

    /// <summary>
    /// C[rows ≤ TR × TN registers] (+)= A·B with A's element (r, p) at a + r·rowStep + p·kStep (floats): strided rows
    /// (rowStep = lda, kStep = 1) or a packed panel (rowStep = 1, kStep = lanes); B's row p at b + p·ldb. Three row-group
    /// pointers address their four rows as g, g + s, g + 2s and g + 3s (scaled-index addressing), so nothing spills.
    /// All TR rows are read; rows past <paramref name="rows"/> are not stored.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile512<TR, TN>(float* a, long rowStep, long kStep, int rows, float* b, long ldb, float* c, long ldc, int kdim, bool acc)
        where TR : struct, IRows where TN : struct, IRows
    {
        nint s = (nint)rowStep * sizeof(float), s3 = 3 * s, ks = (nint)kStep * sizeof(float);
        byte* g0 = (byte*)a, g1 = g0 + 4 * s, g2 = g0 + 8 * s;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default;
        Vector512<float> c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default;
        Vector512<float> c80 = default, c81 = default, c90 = default, c91 = default, ca0 = default, ca1 = default, cb0 = default, cb1 = default;
        for (int p = 0; p < kdim; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = TN.Count > 1 ? Vector512.Load(b + 16) : default;
            Vector512<float> x;
            x = Vector512.Create(*(float*)g0); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); if (TN.Count > 1) c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            x = Vector512.Create(*(float*)(g0 + s)); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); if (TN.Count > 1) c11 = Avx512F.FusedMultiplyAdd(x, b1, c11);
            x = Vector512.Create(*(float*)(g0 + 2 * s)); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); if (TN.Count > 1) c21 = Avx512F.FusedMultiplyAdd(x, b1, c21);
            x = Vector512.Create(*(float*)(g0 + s3)); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); if (TN.Count > 1) c31 = Avx512F.FusedMultiplyAdd(x, b1, c31);
            if (TR.Count > 4)
            {
                x = Vector512.Create(*(float*)g1); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); if (TN.Count > 1) c41 = Avx512F.FusedMultiplyAdd(x, b1, c41);
                x = Vector512.Create(*(float*)(g1 + s)); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); if (TN.Count > 1) c51 = Avx512F.FusedMultiplyAdd(x, b1, c51);
                x = Vector512.Create(*(float*)(g1 + 2 * s)); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); if (TN.Count > 1) c61 = Avx512F.FusedMultiplyAdd(x, b1, c61);
                x = Vector512.Create(*(float*)(g1 + s3)); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); if (TN.Count > 1) c71 = Avx512F.FusedMultiplyAdd(x, b1, c71);
            }
            if (TR.Count > 8)
            {
                x = Vector512.Create(*(float*)g2); c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); if (TN.Count > 1) c81 = Avx512F.FusedMultiplyAdd(x, b1, c81);
                x = Vector512.Create(*(float*)(g2 + s)); c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); if (TN.Count > 1) c91 = Avx512F.FusedMultiplyAdd(x, b1, c91);
                x = Vector512.Create(*(float*)(g2 + 2 * s)); ca0 = Avx512F.FusedMultiplyAdd(x, b0, ca0); if (TN.Count > 1) ca1 = Avx512F.FusedMultiplyAdd(x, b1, ca1);
                x = Vector512.Create(*(float*)(g2 + s3)); cb0 = Avx512F.FusedMultiplyAdd(x, b0, cb0); if (TN.Count > 1) cb1 = Avx512F.FusedMultiplyAdd(x, b1, cb1);
            }
            g0 += ks;
            g1 += ks;
            g2 += ks;
            b += ldb;
        }
        if (rows > 0) Store512<TN>(c, c00, c01, acc);
        if (rows > 1) Store512<TN>(c + ldc, c10, c11, acc);
        if (rows > 2) Store512<TN>(c + 2 * ldc, c20, c21, acc);
        if (rows > 3) Store512<TN>(c + 3 * ldc, c30, c31, acc);
        if (TR.Count > 4 && rows > 4) Store512<TN>(c + 4 * ldc, c40, c41, acc);
        if (TR.Count > 4 && rows > 5) Store512<TN>(c + 5 * ldc, c50, c51, acc);
        if (TR.Count > 4 && rows > 6) Store512<TN>(c + 6 * ldc, c60, c61, acc);
        if (TR.Count > 4 && rows > 7) Store512<TN>(c + 7 * ldc, c70, c71, acc);
        if (TR.Count > 8 && rows > 8) Store512<TN>(c + 8 * ldc, c80, c81, acc);
        if (TR.Count > 8 && rows > 9) Store512<TN>(c + 9 * ldc, c90, c91, acc);
        if (TR.Count > 8 && rows > 10) Store512<TN>(c + 10 * ldc, ca0, ca1, acc);
        if (TR.Count > 8 && rows > 11) Store512<TN>(c + 11 * ldc, cb0, cb1, acc);
    }

    /// <summary><see cref="PackedTimes{TV}"/> for AVX-512 (A packed: element (r, p) at a[p·lda + r], the panel
    /// readable up to 12 rows past lanes).</summary>
    private static void PackedTimes512(float* a, long lda, int lanes, float* b, long ldb, int kdim, int ncols, float* c, long ldc)
    {
        for (int j = 0; j < ncols; j += 32)
        {
            bool two = ncols - j >= 32;
            for (int r0 = 0; r0 < lanes; r0 += MR)
            {
                int rows = Math.Min(MR, lanes - r0);
                float* ar = a + r0, br = b + j, cr = c + r0 * ldc + j;
                switch (rows > 8 ? 12 : rows > 4 ? 8 : 4, two)
                {
                    case (12, true): Tile512<R12, Two>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                    case (12, false): Tile512<R12, One>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                    case (8, true): Tile512<R8, Two>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                    case (8, false): Tile512<R8, One>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                    case (4, true): Tile512<R4, Two>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                    default: Tile512<R4, One>(ar, 1, lda, rows, br, ldb, cr, ldc, kdim, false); break;
                }
            }
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512<TN>(float* c, Vector512<float> v0, Vector512<float> v1, bool acc) where TN : struct, IRows
    {
        if (acc)
        {
            v0 += Vector512.Load(c);
            if (TN.Count > 1) v1 += Vector512.Load(c + 16);
        }
        v0.Store(c);
        if (TN.Count > 1) v1.Store(c + 16);
    }
}
