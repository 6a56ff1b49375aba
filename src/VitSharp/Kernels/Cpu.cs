using System.Runtime.Intrinsics;

namespace VitSharp.Kernels;

/// <summary>Which SIMD width kernels use. Chosen at start-up from the hardware; tests force each level.</summary>
public enum SimdLevel
{
    Scalar = 0,
    Vector256 = 1,
    Vector512 = 2,
}

public static class Cpu
{
    /// <summary>The widest level this machine runs well.</summary>
    public static SimdLevel Detected { get; } =
        Vector512.IsHardwareAccelerated ? SimdLevel.Vector512 :
        Vector256.IsHardwareAccelerated ? SimdLevel.Vector256 : SimdLevel.Scalar;

    private static SimdLevel level = ReadOverride() ?? Detected;

    /// <summary>The level kernels dispatch on; can be lowered (never raised above <see cref="Detected"/>).</summary>
    public static SimdLevel Level
    {
        get => level;
        set => level = value > Detected ? Detected : value;
    }

    /// <summary>Runs <paramref name="body"/> with kernels forced to <paramref name="forced"/> (tests).</summary>
    public static void With(SimdLevel forced, Action body)
    {
        var saved = level;
        Level = forced;
        try { body(); }
        finally { level = saved; }
    }

    private static SimdLevel? ReadOverride()
    {
        var v = Environment.GetEnvironmentVariable("VIT_SIMD");
        return v?.ToLowerInvariant() switch
        {
            "scalar" => SimdLevel.Scalar,
            "256" or "avx2" => SimdLevel.Vector256 <= Detected ? SimdLevel.Vector256 : Detected,
            "512" or "avx512" => Detected,
            _ => null,
        };
    }
}
