using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

// The direct path for shapes where packing cannot pay off (m, n or k equal to 1, or a tiny product): row-by-row
// axpy (op(B) rows contiguous) or dot products (op(B) columns contiguous), vectorised along the contiguous side.
public static unsafe partial class Gemm
{
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    private static void Direct<TEpi>(ref Args g, ref TEpi epi) where TEpi : struct, IGemmEpilogue
    {
        int m = g.M, n = g.N, k = g.K;
        var level = g.Level;
        float* buf = Scratch.Direct(n + k + 16);
        float* acc = buf, arow = buf + n + 8;
        for (int i = 0; i < m; i++)
        {
            float* cr = g.C + (long)i * g.Ldc;
            if (!g.TransB)
            {
                // C[i, :] = Σ_p op(A)(i, p) · B[p, :] (B rows contiguous).
                for (int j = 0; j < n; j++) acc[j] = 0f;
                for (int p = 0; p < k; p++)
                {
                    float av = g.TransA ? g.A[(long)p * g.Lda + i] : g.A[(long)i * g.Lda + p];
                    Axpy(acc, av, g.B + (long)p * g.Ldb, n, level);
                }
            }
            else
            {
                // C[i, j] = op(A)(i, :) · B[j, :] (B rows are op(B) columns, contiguous in p).
                float* ar;
                if (g.TransA)
                {
                    for (int p = 0; p < k; p++) arow[p] = g.A[(long)p * g.Lda + i];
                    ar = arow;
                }
                else
                {
                    ar = g.A + (long)i * g.Lda;
                }
                for (int j = 0; j < n; j++) acc[j] = Dot(ar, g.B + (long)j * g.Ldb, k, level);
            }
            float alpha = g.Alpha, beta = g.Beta;
            for (int j = 0; j < n; j++)
            {
                float t = alpha * acc[j];
                cr[j] = beta == 0f ? t : MathF.FusedMultiplyAdd(cr[j], beta, t);
            }
            if (g.Bias != null) AddInPlace(cr, g.Bias, n, level);
            if (typeof(TEpi) != typeof(NoEpilogue)) epi.Apply(i, 0, new Span<float>(cr, n));
        }
    }

    /// <summary>y[0..n) += a · x[0..n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Axpy(float* y, float a, float* x, int n, SimdLevel level)
    {
        int j = 0;
        if (level == SimdLevel.Vector512)
        {
            var va = Vector512.Create(a);
            for (; j + 16 <= n; j += 16) Vector512.FusedMultiplyAdd(va, Vector512.Load(x + j), Vector512.Load(y + j)).Store(y + j);
        }
        else if (level == SimdLevel.Vector256)
        {
            var va = Vector256.Create(a);
            for (; j + 8 <= n; j += 8) Vector256.FusedMultiplyAdd(va, Vector256.Load(x + j), Vector256.Load(y + j)).Store(y + j);
        }
        for (; j < n; j++) y[j] = MathF.FusedMultiplyAdd(a, x[j], y[j]);
    }

    /// <summary>Σ x[p]·y[p] over [0, n).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static float Dot(float* x, float* y, int n, SimdLevel level)
    {
        int p = 0;
        float s = 0f;
        if (level == SimdLevel.Vector512 && n >= 16)
        {
            var acc = Vector512<float>.Zero;
            for (; p + 16 <= n; p += 16) acc = Vector512.FusedMultiplyAdd(Vector512.Load(x + p), Vector512.Load(y + p), acc);
            s = Vector512.Sum(acc);
        }
        else if (level == SimdLevel.Vector256 && n >= 8)
        {
            var acc = Vector256<float>.Zero;
            for (; p + 8 <= n; p += 8) acc = Vector256.FusedMultiplyAdd(Vector256.Load(x + p), Vector256.Load(y + p), acc);
            s = Vector256.Sum(acc);
        }
        for (; p < n; p++) s = MathF.FusedMultiplyAdd(x[p], y[p], s);
        return s;
    }

    /// <summary>y[0..n) += x[0..n) (the bias of a Linear layer, added to each finished row segment).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void AddInPlace(float* y, float* x, int n, SimdLevel level)
    {
        int j = 0;
        if (level == SimdLevel.Vector512)
        {
            for (; j + 16 <= n; j += 16) (Vector512.Load(y + j) + Vector512.Load(x + j)).Store(y + j);
        }
        else if (level == SimdLevel.Vector256)
        {
            for (; j + 8 <= n; j += 8) (Vector256.Load(y + j) + Vector256.Load(x + j)).Store(y + j);
        }
        for (; j < n; j++) y[j] += x[j];
    }
}
