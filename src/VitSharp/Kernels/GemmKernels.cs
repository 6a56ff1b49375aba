using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Kernels;

// Micro-kernels of the packed GEMM. All SIMD levels share one packed layout (12-row A micro-panels, 32-column
// B micro-panels) so a PackedB made at one level serves every level.
public static unsafe partial class Gemm
{
    internal interface IRowCount
    {
        static abstract int Count { get; }
    }

    /// <summary>
    /// Computes one MR×NR tile: C[rows, cols] (+)= A·B, at the current SIMD level. A's MR values for step p start at
    /// a + p·aStep (MR for a packed micro-panel, lda for a transposed A read where it lies); with
    /// <paramref name="aRow"/> ≠ 0, A is row-major and read in place instead (row r at a + r·aRow, steps consecutive).
    /// B's NR values are at b + p·bStep (NR packed, ldb for a row-major B). Strided operands are only passed at the
    /// Vector512 level and with full B panels. t is a 64-byte aligned MR×NR scratch tile for partial tiles and the
    /// narrower levels. A non-null <paramref name="bias"/> (the tile's cols values) is added to every row as C is
    /// stored, after the beta update: the same rounding as a separate pass, without one. Every path rounds
    /// identically per element within a level (same FMA chain over p, then the same C update), so results do not
    /// depend on tiling.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Tile(SimdLevel level, float* a, int aStep, int aRow, float* b, int bStep, int kc, float* c, int ldc, int rows, int cols, float beta, float* t, float* bias)
    {
        if (aRow != 0)
        {
            if (cols == NR) Kernel512RowMajorRows(rows, a, aRow, b, bStep, kc, c, ldc, beta, bias);
            else
            {
                Kernel512RowMajorRows(rows, a, aRow, b, bStep, kc, t, NR, 0f, null);
                Merge(t, rows, cols, c, ldc, beta, bias);
            }
            return;
        }
        if (level == SimdLevel.Vector512)
        {
            if (cols == NR)
            {
                Kernel512Rows(rows, a, aStep, b, bStep, kc, c, ldc, beta, bias);
                return;
            }
            Kernel512Rows(rows, a, aStep, b, bStep, kc, t, NR, 0f, null);
        }
        else if (level == SimdLevel.Vector256)
        {
            Kernel256Sub(a, b, kc, t);
            Kernel256Sub(a, b + 16, kc, t + 16);
            if (rows > 6)
            {
                Kernel256Sub(a + 6, b, kc, t + 6 * NR);
                Kernel256Sub(a + 6, b + 16, kc, t + 6 * NR + 16);
            }
        }
        else
        {
            KernelScalar(a, b, kc, t, rows);
        }
        Merge(t, rows, cols, c, ldc, beta, bias);
    }

    /// <summary>C = t (beta 0), C + t (beta 1) or fma(C, beta, t), then + bias: the same rounding as <see cref="Store512"/>.</summary>
    private static void Merge(float* t, int rows, int cols, float* c, int ldc, float beta, float* bias)
    {
        for (int r = 0; r < rows; r++)
        {
            float* tr = t + r * NR;
            float* cr = c + (long)r * ldc;
            if (beta == 0f)
            {
                for (int j = 0; j < cols; j++) cr[j] = tr[j];
            }
            else if (beta == 1f)
            {
                for (int j = 0; j < cols; j++) cr[j] = cr[j] + tr[j];
            }
            else
            {
                for (int j = 0; j < cols; j++) cr[j] = MathF.FusedMultiplyAdd(cr[j], beta, tr[j]);
            }
            if (bias != null) for (int j = 0; j < cols; j++) cr[j] += bias[j];
        }
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store512(float* c, Vector512<float> v0, Vector512<float> v1, float beta, float* bias)
    {
        if (beta == 1f)
        {
            v0 = Vector512.Load(c) + v0;
            v1 = Vector512.Load(c + 16) + v1;
        }
        else if (beta != 0f)
        {
            var bv = Vector512.Create(beta);
            v0 = Avx512F.FusedMultiplyAdd(Vector512.Load(c), bv, v0);
            v1 = Avx512F.FusedMultiplyAdd(Vector512.Load(c + 16), bv, v1);
        }
        if (bias != null)
        {
            v0 += Vector512.Load(bias);
            v1 += Vector512.Load(bias + 16);
        }
        v0.Store(c);
        v1.Store(c + 16);
    }

    /// <summary>
    /// Vector512 12×32 micro-kernel (24 zmm accumulators): C[0..TR, 0..32) (+)= Ap·Bp over kc. Step p reads the TR
    /// A values at a + p·aStep (a packed 12-row micro-panel has aStep 12) and the 32 B values at b + p·bStep (a
    /// packed 32-column micro-panel has bStep 32; a row-major B read in place has its ldb). TR (1..12) is a
    /// JIT-time constant, so each row count gets its own straight-line code and edge tiles waste no FMAs.
    /// beta: 0 = overwrite (C is never read, so garbage/NaN is fine), 1 = accumulate, else C = beta·C + acc.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512<TR>(float* a, int aStep, float* b, int bStep, int kc, float* c, int ldc, float beta, float* bias) where TR : struct, IRowCount
    {
        if (Sse.IsSupported)
        {
            // The C tile is read at the end; start pulling its lines in now so the update does not stall.
            for (int r = 0; r < TR.Count; r++)
            {
                Sse.Prefetch0(c + r * ldc);
                Sse.Prefetch0(c + r * ldc + 16);
            }
        }
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, c100 = default, c101 = default, c110 = default, c111 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a[0]); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            if (TR.Count > 1) { x = Vector512.Create(a[1]); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11); }
            if (TR.Count > 2) { x = Vector512.Create(a[2]); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21); }
            if (TR.Count > 3) { x = Vector512.Create(a[3]); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31); }
            if (TR.Count > 4) { x = Vector512.Create(a[4]); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41); }
            if (TR.Count > 5) { x = Vector512.Create(a[5]); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51); }
            if (TR.Count > 6) { x = Vector512.Create(a[6]); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61); }
            if (TR.Count > 7) { x = Vector512.Create(a[7]); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71); }
            if (TR.Count > 8) { x = Vector512.Create(a[8]); c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81); }
            if (TR.Count > 9) { x = Vector512.Create(a[9]); c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91); }
            if (TR.Count > 10) { x = Vector512.Create(a[10]); c100 = Avx512F.FusedMultiplyAdd(x, b0, c100); c101 = Avx512F.FusedMultiplyAdd(x, b1, c101); }
            if (TR.Count > 11) { x = Vector512.Create(a[11]); c110 = Avx512F.FusedMultiplyAdd(x, b0, c110); c111 = Avx512F.FusedMultiplyAdd(x, b1, c111); }
            a += aStep;
            b += bStep;
        }
        Store512(c, c00, c01, beta, bias);
        if (TR.Count > 1) Store512(c + 1 * ldc, c10, c11, beta, bias);
        if (TR.Count > 2) Store512(c + 2 * ldc, c20, c21, beta, bias);
        if (TR.Count > 3) Store512(c + 3 * ldc, c30, c31, beta, bias);
        if (TR.Count > 4) Store512(c + 4 * ldc, c40, c41, beta, bias);
        if (TR.Count > 5) Store512(c + 5 * ldc, c50, c51, beta, bias);
        if (TR.Count > 6) Store512(c + 6 * ldc, c60, c61, beta, bias);
        if (TR.Count > 7) Store512(c + 7 * ldc, c70, c71, beta, bias);
        if (TR.Count > 8) Store512(c + 8 * ldc, c80, c81, beta, bias);
        if (TR.Count > 9) Store512(c + 9 * ldc, c90, c91, beta, bias);
        if (TR.Count > 10) Store512(c + 10 * ldc, c100, c101, beta, bias);
        if (TR.Count > 11) Store512(c + 11 * ldc, c110, c111, beta, bias);
    }

    private static void Kernel512Rows(int rows, float* a, int aStep, float* b, int bStep, int kc, float* c, int ldc, float beta, float* bias)
    {
        switch (rows)
        {
            case 1: Kernel512<R1>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 2: Kernel512<R2>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 3: Kernel512<R3>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 4: Kernel512<R4>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 5: Kernel512<R5>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 6: Kernel512<R6>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 7: Kernel512<R7>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 8: Kernel512<R8>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 9: Kernel512<R9>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 10: Kernel512<R10>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 11: Kernel512<R11>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            case 12: Kernel512<R12>(a, aStep, b, bStep, kc, c, ldc, beta, bias); break;
            default: throw new ArgumentOutOfRangeException(nameof(rows));
        }
    }

    /// <summary>
    /// <see cref="Kernel512{TR}"/> with a row-major A read where it lies: row r's value for step p is a[r·lda + p].
    /// Narrow products (n ≤ 256) use each A element only n/32 times, so packing it cost them ~11 % of their time;
    /// the FMA chain per element is the same as the packed kernel's, so results are bit-identical. Written out
    /// rather than sharing a generic A accessor with the packed kernel: that one is the hottest loop in the
    /// library, and its single-pointer addressing is what keeps all 24 accumulators and the pointers in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel512RowMajor<TR>(float* a, int lda, float* b, int bStep, int kc, float* c, int ldc, float beta, float* bias) where TR : struct, IRowCount
    {
        if (Sse.IsSupported)
        {
            for (int r = 0; r < TR.Count; r++)
            {
                Sse.Prefetch0(c + r * ldc);
                Sse.Prefetch0(c + r * ldc + 16);
            }
        }
        long l = lda;
        float* a0 = a, a1 = a + l, a2 = a + 2 * l, a3 = a + 3 * l, a4 = a + 4 * l, a5 = a + 5 * l;
        float* a6 = a + 6 * l, a7 = a + 7 * l, a8 = a + 8 * l, a9 = a + 9 * l, a10 = a + 10 * l, a11 = a + 11 * l;
        Vector512<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default, c60 = default, c61 = default, c70 = default, c71 = default, c80 = default, c81 = default, c90 = default, c91 = default, c100 = default, c101 = default, c110 = default, c111 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector512.Load(b);
            var b1 = Vector512.Load(b + 16);
            Vector512<float> x;
            x = Vector512.Create(a0[p]); c00 = Avx512F.FusedMultiplyAdd(x, b0, c00); c01 = Avx512F.FusedMultiplyAdd(x, b1, c01);
            if (TR.Count > 1) { x = Vector512.Create(a1[p]); c10 = Avx512F.FusedMultiplyAdd(x, b0, c10); c11 = Avx512F.FusedMultiplyAdd(x, b1, c11); }
            if (TR.Count > 2) { x = Vector512.Create(a2[p]); c20 = Avx512F.FusedMultiplyAdd(x, b0, c20); c21 = Avx512F.FusedMultiplyAdd(x, b1, c21); }
            if (TR.Count > 3) { x = Vector512.Create(a3[p]); c30 = Avx512F.FusedMultiplyAdd(x, b0, c30); c31 = Avx512F.FusedMultiplyAdd(x, b1, c31); }
            if (TR.Count > 4) { x = Vector512.Create(a4[p]); c40 = Avx512F.FusedMultiplyAdd(x, b0, c40); c41 = Avx512F.FusedMultiplyAdd(x, b1, c41); }
            if (TR.Count > 5) { x = Vector512.Create(a5[p]); c50 = Avx512F.FusedMultiplyAdd(x, b0, c50); c51 = Avx512F.FusedMultiplyAdd(x, b1, c51); }
            if (TR.Count > 6) { x = Vector512.Create(a6[p]); c60 = Avx512F.FusedMultiplyAdd(x, b0, c60); c61 = Avx512F.FusedMultiplyAdd(x, b1, c61); }
            if (TR.Count > 7) { x = Vector512.Create(a7[p]); c70 = Avx512F.FusedMultiplyAdd(x, b0, c70); c71 = Avx512F.FusedMultiplyAdd(x, b1, c71); }
            if (TR.Count > 8) { x = Vector512.Create(a8[p]); c80 = Avx512F.FusedMultiplyAdd(x, b0, c80); c81 = Avx512F.FusedMultiplyAdd(x, b1, c81); }
            if (TR.Count > 9) { x = Vector512.Create(a9[p]); c90 = Avx512F.FusedMultiplyAdd(x, b0, c90); c91 = Avx512F.FusedMultiplyAdd(x, b1, c91); }
            if (TR.Count > 10) { x = Vector512.Create(a10[p]); c100 = Avx512F.FusedMultiplyAdd(x, b0, c100); c101 = Avx512F.FusedMultiplyAdd(x, b1, c101); }
            if (TR.Count > 11) { x = Vector512.Create(a11[p]); c110 = Avx512F.FusedMultiplyAdd(x, b0, c110); c111 = Avx512F.FusedMultiplyAdd(x, b1, c111); }
            b += bStep;
        }
        Store512(c, c00, c01, beta, bias);
        if (TR.Count > 1) Store512(c + 1 * ldc, c10, c11, beta, bias);
        if (TR.Count > 2) Store512(c + 2 * ldc, c20, c21, beta, bias);
        if (TR.Count > 3) Store512(c + 3 * ldc, c30, c31, beta, bias);
        if (TR.Count > 4) Store512(c + 4 * ldc, c40, c41, beta, bias);
        if (TR.Count > 5) Store512(c + 5 * ldc, c50, c51, beta, bias);
        if (TR.Count > 6) Store512(c + 6 * ldc, c60, c61, beta, bias);
        if (TR.Count > 7) Store512(c + 7 * ldc, c70, c71, beta, bias);
        if (TR.Count > 8) Store512(c + 8 * ldc, c80, c81, beta, bias);
        if (TR.Count > 9) Store512(c + 9 * ldc, c90, c91, beta, bias);
        if (TR.Count > 10) Store512(c + 10 * ldc, c100, c101, beta, bias);
        if (TR.Count > 11) Store512(c + 11 * ldc, c110, c111, beta, bias);
    }

    private static void Kernel512RowMajorRows(int rows, float* a, int lda, float* b, int bStep, int kc, float* c, int ldc, float beta, float* bias)
    {
        switch (rows)
        {
            case 1: Kernel512RowMajor<R1>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 2: Kernel512RowMajor<R2>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 3: Kernel512RowMajor<R3>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 4: Kernel512RowMajor<R4>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 5: Kernel512RowMajor<R5>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 6: Kernel512RowMajor<R6>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 7: Kernel512RowMajor<R7>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 8: Kernel512RowMajor<R8>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 9: Kernel512RowMajor<R9>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 10: Kernel512RowMajor<R10>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 11: Kernel512RowMajor<R11>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            case 12: Kernel512RowMajor<R12>(a, lda, b, bStep, kc, c, ldc, beta, bias); break;
            default: throw new ArgumentOutOfRangeException(nameof(rows));
        }
    }

    private struct R1 : IRowCount { public static int Count => 1; }
    private struct R2 : IRowCount { public static int Count => 2; }
    private struct R3 : IRowCount { public static int Count => 3; }
    private struct R4 : IRowCount { public static int Count => 4; }
    private struct R5 : IRowCount { public static int Count => 5; }
    private struct R6 : IRowCount { public static int Count => 6; }
    private struct R7 : IRowCount { public static int Count => 7; }
    private struct R8 : IRowCount { public static int Count => 8; }
    private struct R9 : IRowCount { public static int Count => 9; }
    private struct R10 : IRowCount { public static int Count => 10; }
    private struct R11 : IRowCount { public static int Count => 11; }
    private struct R12 : IRowCount { public static int Count => 12; }

    /// <summary>Vector256 6×16 sub-kernel (12 ymm accumulators, fits 16-register AVX2) over the shared packed layout;
    /// writes the product (no C read) to t with row stride NR.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Kernel256Sub(float* a, float* b, int kc, float* t)
    {
        Vector256<float> c00 = default, c01 = default, c10 = default, c11 = default, c20 = default, c21 = default, c30 = default, c31 = default, c40 = default, c41 = default, c50 = default, c51 = default;
        for (int p = 0; p < kc; p++)
        {
            var b0 = Vector256.Load(b);
            var b1 = Vector256.Load(b + 8);
            Vector256<float> x;
            x = Vector256.Create(a[0]); c00 = Vector256.FusedMultiplyAdd(x, b0, c00); c01 = Vector256.FusedMultiplyAdd(x, b1, c01);
            x = Vector256.Create(a[1]); c10 = Vector256.FusedMultiplyAdd(x, b0, c10); c11 = Vector256.FusedMultiplyAdd(x, b1, c11);
            x = Vector256.Create(a[2]); c20 = Vector256.FusedMultiplyAdd(x, b0, c20); c21 = Vector256.FusedMultiplyAdd(x, b1, c21);
            x = Vector256.Create(a[3]); c30 = Vector256.FusedMultiplyAdd(x, b0, c30); c31 = Vector256.FusedMultiplyAdd(x, b1, c31);
            x = Vector256.Create(a[4]); c40 = Vector256.FusedMultiplyAdd(x, b0, c40); c41 = Vector256.FusedMultiplyAdd(x, b1, c41);
            x = Vector256.Create(a[5]); c50 = Vector256.FusedMultiplyAdd(x, b0, c50); c51 = Vector256.FusedMultiplyAdd(x, b1, c51);
            a += MR;
            b += NR;
        }
        c00.Store(t + 0 * NR); c01.Store(t + 0 * NR + 8);
        c10.Store(t + 1 * NR); c11.Store(t + 1 * NR + 8);
        c20.Store(t + 2 * NR); c21.Store(t + 2 * NR + 8);
        c30.Store(t + 3 * NR); c31.Store(t + 3 * NR + 8);
        c40.Store(t + 4 * NR); c41.Store(t + 4 * NR + 8);
        c50.Store(t + 5 * NR); c51.Store(t + 5 * NR + 8);
    }

    /// <summary>Portable reference micro-kernel (no SIMD); writes rows×NR of the product to t.</summary>
    private static void KernelScalar(float* a, float* b, int kc, float* t, int rows)
    {
        for (int i = 0; i < rows * NR; i++) t[i] = 0f;
        for (int p = 0; p < kc; p++)
        {
            float* ap = a + p * MR;
            float* bp = b + p * NR;
            for (int r = 0; r < rows; r++)
            {
                float av = ap[r];
                float* tr = t + r * NR;
                for (int j = 0; j < NR; j++) tr[j] += av * bp[j];
            }
        }
    }
}
