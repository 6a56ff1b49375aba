using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace VitSharp.Imaging.Jpeg;

/// <summary>
/// libjpeg's "islow" integer inverse DCT (jidctint.c: 13-bit constants, 2 extra bits between passes),
/// reproduced operation for operation so our samples equal libjpeg-turbo's, including its range-limit
/// table (output index masked to 10 bits).
/// </summary>
internal static unsafe class JpegIdct
{
    private const int ConstBits = 13;
    private const int Pass1Bits = 2;
    private const int Fix_0_298631336 = 2446;
    private const int Fix_0_390180644 = 3196;
    private const int Fix_0_541196100 = 4433;
    private const int Fix_0_765366865 = 6270;
    private const int Fix_0_899976223 = 7373;
    private const int Fix_1_175875602 = 9633;
    private const int Fix_1_501321110 = 12299;
    private const int Fix_1_847759065 = 15137;
    private const int Fix_1_961570560 = 16069;
    private const int Fix_2_053119869 = 16819;
    private const int Fix_2_562915447 = 20995;
    private const int Fix_3_072711026 = 25172;

    /// <summary>libjpeg's IDCT_range_limit: index (x &amp; 1023) of the descaled, still-centred value.</summary>
    internal static readonly byte[] RangeLimit = BuildRangeLimit();
    internal static readonly byte* RangePtr = (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(RangeLimit));

    private static byte[] BuildRangeLimit()
    {
        var t = GC.AllocateArray<byte>(1024, pinned: true);
        for (int i = 0; i < 1024; i++)
        {
            int x = i < 512 ? i : i - 1024; // libjpeg's table wraps like this for |x| >= 512
            t[i] = (byte)Math.Clamp(x + 128, 0, 255);
        }
        return t;
    }

    /// <summary>Dequantises one 8×8 block of natural-order coefficients and writes 8 rows of 8 samples.</summary>
    [MethodImpl(MethodImplOptions.NoInlining | MethodImplOptions.AggressiveOptimization)]
    public static void Transform(short* coef, ushort* quant, byte* output, int stride, byte* range)
    {
        int* ws = stackalloc int[64];
        for (int c = 0; c < 8; c++)
        {
            short* inp = coef + c;
            ushort* q = quant + c;
            int* w = ws + c;
            if (inp[8] == 0 && inp[16] == 0 && inp[24] == 0 && inp[32] == 0 && inp[40] == 0 && inp[48] == 0 && inp[56] == 0)
            {
                int dc = (inp[0] * q[0]) << Pass1Bits;
                w[0] = dc; w[8] = dc; w[16] = dc; w[24] = dc; w[32] = dc; w[40] = dc; w[48] = dc; w[56] = dc;
                continue;
            }
            int z2 = inp[16] * q[16];
            int z3 = inp[48] * q[48];
            int z1 = (z2 + z3) * Fix_0_541196100;
            int tmp2 = z1 + z3 * -Fix_1_847759065;
            int tmp3 = z1 + z2 * Fix_0_765366865;
            z2 = inp[0] * q[0];
            z3 = inp[32] * q[32];
            int tmp0 = (z2 + z3) << ConstBits;
            int tmp1 = (z2 - z3) << ConstBits;
            int tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            tmp0 = inp[56] * q[56];
            tmp1 = inp[40] * q[40];
            tmp2 = inp[24] * q[24];
            tmp3 = inp[8] * q[8];
            z1 = tmp0 + tmp3;
            z2 = tmp1 + tmp2;
            z3 = tmp0 + tmp2;
            int z4 = tmp1 + tmp3;
            int z5 = (z3 + z4) * Fix_1_175875602;
            tmp0 *= Fix_0_298631336;
            tmp1 *= Fix_2_053119869;
            tmp2 *= Fix_3_072711026;
            tmp3 *= Fix_1_501321110;
            z1 *= -Fix_0_899976223;
            z2 *= -Fix_2_562915447;
            z3 *= -Fix_1_961570560;
            z4 *= -Fix_0_390180644;
            z3 += z5;
            z4 += z5;
            tmp0 += z1 + z3;
            tmp1 += z2 + z4;
            tmp2 += z2 + z3;
            tmp3 += z1 + z4;
            const int sh = ConstBits - Pass1Bits, rnd = 1 << (sh - 1);
            w[0] = (tmp10 + tmp3 + rnd) >> sh;
            w[56] = (tmp10 - tmp3 + rnd) >> sh;
            w[8] = (tmp11 + tmp2 + rnd) >> sh;
            w[48] = (tmp11 - tmp2 + rnd) >> sh;
            w[16] = (tmp12 + tmp1 + rnd) >> sh;
            w[40] = (tmp12 - tmp1 + rnd) >> sh;
            w[24] = (tmp13 + tmp0 + rnd) >> sh;
            w[32] = (tmp13 - tmp0 + rnd) >> sh;
        }
        for (int r = 0; r < 8; r++)
        {
            int* w = ws + r * 8;
            byte* o = output + r * stride;
            if (w[1] == 0 && w[2] == 0 && w[3] == 0 && w[4] == 0 && w[5] == 0 && w[6] == 0 && w[7] == 0)
            {
                byte v = range[((w[0] + (1 << (Pass1Bits + 2))) >> (Pass1Bits + 3)) & 1023];
                o[0] = v; o[1] = v; o[2] = v; o[3] = v; o[4] = v; o[5] = v; o[6] = v; o[7] = v;
                continue;
            }
            int z2 = w[2];
            int z3 = w[6];
            int z1 = (z2 + z3) * Fix_0_541196100;
            int tmp2 = z1 + z3 * -Fix_1_847759065;
            int tmp3 = z1 + z2 * Fix_0_765366865;
            int tmp0 = (w[0] + w[4]) << ConstBits;
            int tmp1 = (w[0] - w[4]) << ConstBits;
            int tmp10 = tmp0 + tmp3, tmp13 = tmp0 - tmp3, tmp11 = tmp1 + tmp2, tmp12 = tmp1 - tmp2;

            tmp0 = w[7];
            tmp1 = w[5];
            tmp2 = w[3];
            tmp3 = w[1];
            z1 = tmp0 + tmp3;
            z2 = tmp1 + tmp2;
            z3 = tmp0 + tmp2;
            int z4 = tmp1 + tmp3;
            int z5 = (z3 + z4) * Fix_1_175875602;
            tmp0 *= Fix_0_298631336;
            tmp1 *= Fix_2_053119869;
            tmp2 *= Fix_3_072711026;
            tmp3 *= Fix_1_501321110;
            z1 *= -Fix_0_899976223;
            z2 *= -Fix_2_562915447;
            z3 *= -Fix_1_961570560;
            z4 *= -Fix_0_390180644;
            z3 += z5;
            z4 += z5;
            tmp0 += z1 + z3;
            tmp1 += z2 + z4;
            tmp2 += z2 + z3;
            tmp3 += z1 + z4;
            const int sh = ConstBits + Pass1Bits + 3, rnd = 1 << (sh - 1);
            o[0] = range[((tmp10 + tmp3 + rnd) >> sh) & 1023];
            o[7] = range[((tmp10 - tmp3 + rnd) >> sh) & 1023];
            o[1] = range[((tmp11 + tmp2 + rnd) >> sh) & 1023];
            o[6] = range[((tmp11 - tmp2 + rnd) >> sh) & 1023];
            o[2] = range[((tmp12 + tmp1 + rnd) >> sh) & 1023];
            o[5] = range[((tmp12 - tmp1 + rnd) >> sh) & 1023];
            o[3] = range[((tmp13 + tmp0 + rnd) >> sh) & 1023];
            o[4] = range[((tmp13 - tmp0 + rnd) >> sh) & 1023];
        }
    }
}
