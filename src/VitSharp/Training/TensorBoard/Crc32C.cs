using System.Buffers.Binary;
using System.Numerics;

namespace VitSharp.Training.TensorBoard;

/// <summary>CRC-32C (Castagnoli) and the "masked" form TFRecord framing uses.</summary>
public static class Crc32C
{
    /// <summary>CRC-32C of <paramref name="data"/> (init 0xFFFFFFFF, final complement); uses the CPU's crc32 instruction when present.</summary>
    public static uint Compute(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFFFFFFu;
        int i = 0;
        for (; i + 8 <= data.Length; i += 8) crc = BitOperations.Crc32C(crc, BinaryPrimitives.ReadUInt64LittleEndian(data[i..]));
        for (; i < data.Length; i++) crc = BitOperations.Crc32C(crc, data[i]);
        return ~crc;
    }

    /// <summary>TFRecord's masked CRC: rotate right by 15 and add 0xA282EAD8.</summary>
    public static uint Mask(uint crc) => unchecked(((crc >> 15) | (crc << 17)) + 0xA282EAD8u);

    public static uint Masked(ReadOnlySpan<byte> data) => Mask(Compute(data));
}
