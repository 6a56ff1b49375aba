using System.Diagnostics.CodeAnalysis;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace VitSharp.Imaging.Jpeg;

/// <summary>
/// AVX2 versions of the islow IDCT, the fancy upsamplers and YCbCr→RGB. Same integer arithmetic as the
/// scalar code (the scalar zero-row shortcuts are arithmetically identical to the full butterflies), so
/// results are bit-identical; the tests force both paths.
/// </summary>
internal static unsafe class JpegSimd
{
    public static bool Supported => Avx2.IsSupported && Ssse3.IsSupported;

    private const int ConstBits = 13, Pass1Bits = 2;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Butterfly(ref Vector256<int> v0, ref Vector256<int> v1, ref Vector256<int> v2, ref Vector256<int> v3,
        ref Vector256<int> v4, ref Vector256<int> v5, ref Vector256<int> v6, ref Vector256<int> v7, [ConstantExpected] byte shift)
    {
        var z2 = v2;
        var z3 = v6;
        var z1 = (z2 + z3) * Vector256.Create(4433);
        var tmp2 = z1 + z3 * Vector256.Create(-15137);
        var tmp3 = z1 + z2 * Vector256.Create(6270);
        var tmp0 = Avx2.ShiftLeftLogical(v0 + v4, ConstBits);
        var tmp1 = Avx2.ShiftLeftLogical(v0 - v4, ConstBits);
        var tmp10 = tmp0 + tmp3;
        var tmp13 = tmp0 - tmp3;
        var tmp11 = tmp1 + tmp2;
        var tmp12 = tmp1 - tmp2;

        tmp0 = v7;
        tmp1 = v5;
        tmp2 = v3;
        tmp3 = v1;
        z1 = tmp0 + tmp3;
        z2 = tmp1 + tmp2;
        z3 = tmp0 + tmp2;
        var z4 = tmp1 + tmp3;
        var z5 = (z3 + z4) * Vector256.Create(9633);
        tmp0 *= Vector256.Create(2446);
        tmp1 *= Vector256.Create(16819);
        tmp2 *= Vector256.Create(25172);
        tmp3 *= Vector256.Create(12299);
        z1 *= Vector256.Create(-7373);
        z2 *= Vector256.Create(-20995);
        z3 *= Vector256.Create(-16069);
        z4 *= Vector256.Create(-3196);
        z3 += z5;
        z4 += z5;
        tmp0 += z1 + z3;
        tmp1 += z2 + z4;
        tmp2 += z2 + z3;
        tmp3 += z1 + z4;
        var rnd = Vector256.Create(1 << (shift - 1));
        v0 = Avx2.ShiftRightArithmetic(tmp10 + tmp3 + rnd, shift);
        v7 = Avx2.ShiftRightArithmetic(tmp10 - tmp3 + rnd, shift);
        v1 = Avx2.ShiftRightArithmetic(tmp11 + tmp2 + rnd, shift);
        v6 = Avx2.ShiftRightArithmetic(tmp11 - tmp2 + rnd, shift);
        v2 = Avx2.ShiftRightArithmetic(tmp12 + tmp1 + rnd, shift);
        v5 = Avx2.ShiftRightArithmetic(tmp12 - tmp1 + rnd, shift);
        v3 = Avx2.ShiftRightArithmetic(tmp13 + tmp0 + rnd, shift);
        v4 = Avx2.ShiftRightArithmetic(tmp13 - tmp0 + rnd, shift);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Transpose(ref Vector256<int> r0, ref Vector256<int> r1, ref Vector256<int> r2, ref Vector256<int> r3,
        ref Vector256<int> r4, ref Vector256<int> r5, ref Vector256<int> r6, ref Vector256<int> r7)
    {
        var t0 = Avx2.UnpackLow(r0, r1).AsInt64();
        var t1 = Avx2.UnpackHigh(r0, r1).AsInt64();
        var t2 = Avx2.UnpackLow(r2, r3).AsInt64();
        var t3 = Avx2.UnpackHigh(r2, r3).AsInt64();
        var t4 = Avx2.UnpackLow(r4, r5).AsInt64();
        var t5 = Avx2.UnpackHigh(r4, r5).AsInt64();
        var t6 = Avx2.UnpackLow(r6, r7).AsInt64();
        var t7 = Avx2.UnpackHigh(r6, r7).AsInt64();
        var u0 = Avx2.UnpackLow(t0, t2).AsInt32();
        var u1 = Avx2.UnpackHigh(t0, t2).AsInt32();
        var u2 = Avx2.UnpackLow(t1, t3).AsInt32();
        var u3 = Avx2.UnpackHigh(t1, t3).AsInt32();
        var u4 = Avx2.UnpackLow(t4, t6).AsInt32();
        var u5 = Avx2.UnpackHigh(t4, t6).AsInt32();
        var u6 = Avx2.UnpackLow(t5, t7).AsInt32();
        var u7 = Avx2.UnpackHigh(t5, t7).AsInt32();
        r0 = Avx2.Permute2x128(u0, u4, 0x20);
        r1 = Avx2.Permute2x128(u1, u5, 0x20);
        r2 = Avx2.Permute2x128(u2, u6, 0x20);
        r3 = Avx2.Permute2x128(u3, u7, 0x20);
        r4 = Avx2.Permute2x128(u0, u4, 0x31);
        r5 = Avx2.Permute2x128(u1, u5, 0x31);
        r6 = Avx2.Permute2x128(u2, u6, 0x31);
        r7 = Avx2.Permute2x128(u3, u7, 0x31);
    }

    /// <summary>libjpeg's range limit: sign-extend the low 10 bits (its table wraps), add 128, clamp.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static Vector256<int> Limit(Vector256<int> x) =>
        Vector256.Min(Vector256.Max(Avx2.ShiftRightArithmetic(Avx2.ShiftLeftLogical(x, 22), 22) + Vector256.Create(128), Vector256<int>.Zero), Vector256.Create(255));

    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Idct(short* coef, int* quant, byte* output, int stride)
    {
        var v0 = Avx2.ConvertToVector256Int32(coef) * Avx.LoadVector256(quant);
        var v1 = Avx2.ConvertToVector256Int32(coef + 8) * Avx.LoadVector256(quant + 8);
        var v2 = Avx2.ConvertToVector256Int32(coef + 16) * Avx.LoadVector256(quant + 16);
        var v3 = Avx2.ConvertToVector256Int32(coef + 24) * Avx.LoadVector256(quant + 24);
        var v4 = Avx2.ConvertToVector256Int32(coef + 32) * Avx.LoadVector256(quant + 32);
        var v5 = Avx2.ConvertToVector256Int32(coef + 40) * Avx.LoadVector256(quant + 40);
        var v6 = Avx2.ConvertToVector256Int32(coef + 48) * Avx.LoadVector256(quant + 48);
        var v7 = Avx2.ConvertToVector256Int32(coef + 56) * Avx.LoadVector256(quant + 56);
        Butterfly(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ConstBits - Pass1Bits);
        Transpose(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
        Butterfly(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7, ConstBits + Pass1Bits + 3);
        Transpose(ref v0, ref v1, ref v2, ref v3, ref v4, ref v5, ref v6, ref v7);
        var s01 = Vector256.Narrow(Limit(v0), Limit(v1));
        var s23 = Vector256.Narrow(Limit(v2), Limit(v3));
        var s45 = Vector256.Narrow(Limit(v4), Limit(v5));
        var s67 = Vector256.Narrow(Limit(v6), Limit(v7));
        var b0 = Vector256.Narrow(s01.AsUInt16(), s23.AsUInt16()).AsUInt64();
        var b1 = Vector256.Narrow(s45.AsUInt16(), s67.AsUInt16()).AsUInt64();
        *(ulong*)output = b0.GetElement(0);
        *(ulong*)(output + stride) = b0.GetElement(1);
        *(ulong*)(output + 2 * stride) = b0.GetElement(2);
        *(ulong*)(output + 3 * stride) = b0.GetElement(3);
        *(ulong*)(output + 4 * stride) = b1.GetElement(0);
        *(ulong*)(output + 5 * stride) = b1.GetElement(1);
        *(ulong*)(output + 6 * stride) = b1.GetElement(2);
        *(ulong*)(output + 7 * stride) = b1.GetElement(3);
    }

    /// <summary>
    /// Triangle-filter doubling of a row of column sums <paramref name="cs"/> (cs[-1] and cs[n] hold the edge copies):
    /// out[2i] = (3cs[i] + cs[i-1] + rE) &gt;&gt; sh, out[2i+1] = (3cs[i] + cs[i+1] + rO) &gt;&gt; sh, for i &lt; pairs
    /// (rounded up to 16; callers leave room).
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void FancyDouble(short* cs, byte* o, int pairs, short rE, short rO, [ConstantExpected] byte sh)
    {
        var re = Vector256.Create(rE);
        var ro = Vector256.Create(rO);
        for (int i = 0; i < pairs; i += 16)
        {
            var cur = Avx.LoadVector256(cs + i);
            var c3 = cur + cur + cur;
            var prev = Avx.LoadVector256(cs + i - 1);
            var next = Avx.LoadVector256(cs + i + 1);
            var even = Avx2.ShiftRightLogical(c3 + prev + re, sh);
            var odd = Avx2.ShiftRightLogical(c3 + next + ro, sh);
            var packed = Vector256.Narrow(even.AsUInt16(), odd.AsUInt16()); // [e0..e15 | o0..o15]
            var e = packed.GetLower();
            var od = packed.GetUpper();
            Sse2.Store(o + 2 * i, Sse2.UnpackLow(e, od));
            Sse2.Store(o + 2 * i + 16, Sse2.UnpackHigh(e, od));
        }
    }

    /// <summary>cs[i] = m·a[i] + b[i] for i &lt; n (b may be null for m=1, plain widening).</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void ColumnSums(byte* a, byte* b, short* cs, int n)
    {
        int i = 0;
        if (b != null)
        {
            for (; i + 16 <= n; i += 16)
            {
                var va = Avx2.ConvertToVector256Int16(a + i);
                var vb = Avx2.ConvertToVector256Int16(b + i);
                Avx.Store(cs + i, va + va + va + vb);
            }
            for (; i < n; i++) cs[i] = (short)(3 * a[i] + b[i]);
        }
        else
        {
            for (; i + 16 <= n; i += 16) Avx.Store(cs + i, Avx2.ConvertToVector256Int16(a + i));
            for (; i < n; i++) cs[i] = a[i];
        }
        cs[-1] = cs[0];
        cs[n] = cs[n - 1];
    }

    private static readonly Vector128<byte>[] Masks = BuildMasks();

    private static Vector128<byte>[] BuildMasks()
    {
        var m = new Vector128<byte>[9];
        for (int k = 0; k < 3; k++)
            for (int ch = 0; ch < 3; ch++)
            {
                var b = new byte[16];
                for (int j = 0; j < 16; j++)
                {
                    int p = 16 * k + j;
                    b[j] = p % 3 == ch ? (byte)(p / 3) : (byte)0x80;
                }
                m[k * 3 + ch] = Vector128.Create(b);
            }
        return m;
    }

    /// <summary>YCbCr→RGB with libjpeg's 16-bit fixed-point formulas for the first w - (w % 16) pixels; returns how many.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static int YccToRgb(byte* yp, byte* cbp, byte* crp, byte* o, int w)
    {
        var m = Masks;
        Vector128<byte> m00 = m[0], m01 = m[1], m02 = m[2], m10 = m[3], m11 = m[4], m12 = m[5], m20 = m[6], m21 = m[7], m22 = m[8];
        var c128 = Vector256.Create(128);
        var half = Vector256.Create(32768);
        var kCrR = Vector256.Create(91881);
        var kCbB = Vector256.Create(116130);
        var kCbG = Vector256.Create(-22554);
        var kCrG = Vector256.Create(-46802);
        int x = 0;
        for (; x + 16 <= w; x += 16)
        {
            Vector256<short> r16, g16, b16;
            {
                var y0 = Avx2.ConvertToVector256Int32(yp + x);
                var cb0 = Avx2.ConvertToVector256Int32(cbp + x) - c128;
                var cr0 = Avx2.ConvertToVector256Int32(crp + x) - c128;
                var y1 = Avx2.ConvertToVector256Int32(yp + x + 8);
                var cb1 = Avx2.ConvertToVector256Int32(cbp + x + 8) - c128;
                var cr1 = Avx2.ConvertToVector256Int32(crp + x + 8) - c128;
                r16 = Vector256.Narrow(y0 + Avx2.ShiftRightArithmetic(cr0 * kCrR + half, 16), y1 + Avx2.ShiftRightArithmetic(cr1 * kCrR + half, 16));
                g16 = Vector256.Narrow(y0 + Avx2.ShiftRightArithmetic(cb0 * kCbG + half + cr0 * kCrG, 16), y1 + Avx2.ShiftRightArithmetic(cb1 * kCbG + half + cr1 * kCrG, 16));
                b16 = Vector256.Narrow(y0 + Avx2.ShiftRightArithmetic(cb0 * kCbB + half, 16), y1 + Avx2.ShiftRightArithmetic(cb1 * kCbB + half, 16));
            }
            // Saturating pack clamps to 0..255 exactly like libjpeg's range_limit on these sums.
            var rg = Avx2.PackUnsignedSaturate(r16, g16); // per 128-bit lane: [r0-7 g0-7 | r8-15 g8-15]
            var bb = Avx2.PackUnsignedSaturate(b16, b16);
            var rgp = Avx2.Permute4x64(rg.AsUInt64(), 0b11_01_10_00).AsByte(); // [r0-15 | g0-15]
            var bp = Avx2.Permute4x64(bb.AsUInt64(), 0b11_01_10_00).AsByte();
            var R = rgp.GetLower();
            var G = rgp.GetUpper();
            var B = bp.GetLower();
            Sse2.Store(o, Ssse3.Shuffle(R, m00) | Ssse3.Shuffle(G, m01) | Ssse3.Shuffle(B, m02));
            Sse2.Store(o + 16, Ssse3.Shuffle(R, m10) | Ssse3.Shuffle(G, m11) | Ssse3.Shuffle(B, m12));
            Sse2.Store(o + 32, Ssse3.Shuffle(R, m20) | Ssse3.Shuffle(G, m21) | Ssse3.Shuffle(B, m22));
            o += 48;
        }
        return x;
    }
}
