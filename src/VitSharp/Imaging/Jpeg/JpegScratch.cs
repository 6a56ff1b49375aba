namespace VitSharp.Imaging.Jpeg;

/// <summary>
/// Per-thread reuse of the decoder's large pinned scratch buffers (component planes, coefficients).
/// Fresh multi-megabyte arrays cost a page fault per 4 KiB on every decode, which was a large share of
/// decode time; data-loader threads decode many similar images, so keeping the last buffers pays.
/// Buffers over <see cref="MaxKeptBytes"/> in total are not kept, so memory stays bounded per thread.
/// </summary>
internal static class JpegScratch
{
    private const long MaxKeptBytes = 64L << 20;

    [ThreadStatic] private static byte[]?[]? planes;
    [ThreadStatic] private static short[]?[]? coeffs;

    public static byte[] RentPlane(int slot, int length)
    {
        planes ??= new byte[4][];
        var a = planes[slot];
        if (a != null && a.Length >= length) { planes[slot] = null; return a; }
        return GC.AllocateUninitializedArray<byte>(length, pinned: true);
    }

    /// <summary>A zeroed coefficient buffer of at least <paramref name="length"/> elements.</summary>
    public static short[] RentCoeffs(int slot, int length)
    {
        coeffs ??= new short[4][];
        var a = coeffs[slot];
        if (a != null && a.Length >= length)
        {
            coeffs[slot] = null;
            Array.Clear(a, 0, length);
            return a;
        }
        return GC.AllocateArray<short>(length, pinned: true);
    }

    public static void Return(byte[]?[] ps, short[]?[] cs)
    {
        long total = 0;
        foreach (var p in ps) total += p?.Length ?? 0;
        foreach (var c in cs) total += 2L * (c?.Length ?? 0);
        if (total > MaxKeptBytes) return;
        planes ??= new byte[4][];
        coeffs ??= new short[4][];
        for (int i = 0; i < ps.Length && i < 4; i++) if (ps[i] != null) planes[i] = ps[i];
        for (int i = 0; i < cs.Length && i < 4; i++) if (cs[i] != null) coeffs[i] = cs[i];
    }
}
