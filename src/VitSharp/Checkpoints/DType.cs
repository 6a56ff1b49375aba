using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace VitSharp.Checkpoints;

/// <summary>Element types that appear in checkpoint files. Everything is converted to float32 for tensors.</summary>
public enum DType { F32, F16, BF16, F64, I64, I32, I16, I8, U8, U16, U32, U64, Bool }

public static class DTypes
{
    public static int ItemSize(this DType t) => t switch
    {
        DType.F32 or DType.I32 or DType.U32 => 4,
        DType.F16 or DType.BF16 or DType.I16 or DType.U16 => 2,
        DType.F64 or DType.I64 or DType.U64 => 8,
        _ => 1,
    };

    public static bool IsFloat(this DType t) => t is DType.F32 or DType.F16 or DType.BF16 or DType.F64;

    /// <summary>The safetensors spelling (also what `vit info` prints).</summary>
    public static string SafetensorsName(this DType t) => t switch
    {
        DType.F32 => "F32",
        DType.F16 => "F16",
        DType.BF16 => "BF16",
        DType.F64 => "F64",
        DType.I64 => "I64",
        DType.I32 => "I32",
        DType.I16 => "I16",
        DType.I8 => "I8",
        DType.U8 => "U8",
        DType.U16 => "U16",
        DType.U32 => "U32",
        DType.U64 => "U64",
        _ => "BOOL",
    };

    public static DType? FromSafetensorsName(string s) => s switch
    {
        "F32" => DType.F32,
        "F16" => DType.F16,
        "BF16" => DType.BF16,
        "F64" => DType.F64,
        "I64" => DType.I64,
        "I32" => DType.I32,
        "I16" => DType.I16,
        "I8" => DType.I8,
        "U8" => DType.U8,
        "U16" => DType.U16,
        "U32" => DType.U32,
        "U64" => DType.U64,
        "BOOL" => DType.Bool,
        _ => null,
    };

    /// <summary>NumPy's short name (float32, float16, ...), as np.load(...).dtype prints.</summary>
    public static string NumpyName(this DType t) => t switch
    {
        DType.F32 => "float32",
        DType.F16 => "float16",
        DType.BF16 => "bfloat16",
        DType.F64 => "float64",
        DType.I64 => "int64",
        DType.I32 => "int32",
        DType.I16 => "int16",
        DType.I8 => "int8",
        DType.U8 => "uint8",
        DType.U16 => "uint16",
        DType.U32 => "uint32",
        DType.U64 => "uint64",
        _ => "bool",
    };

    /// <summary>Converts little-endian elements of <paramref name="t"/> to float32.</summary>
    public static void ToFloat(DType t, ReadOnlySpan<byte> src, Span<float> dst)
    {
        int n = dst.Length;
        switch (t)
        {
            case DType.F32:
                MemoryMarshal.Cast<byte, float>(src[..(n * 4)]).CopyTo(dst);
                if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException("big-endian host");
                break;
            case DType.F16:
                for (int i = 0; i < n; i++) dst[i] = (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]));
                break;
            case DType.BF16:
                for (int i = 0; i < n; i++) dst[i] = BitConverter.Int32BitsToSingle(BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]) << 16);
                break;
            case DType.F64:
                for (int i = 0; i < n; i++) dst[i] = (float)BinaryPrimitives.ReadDoubleLittleEndian(src[(8 * i)..]);
                break;
            case DType.I64:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadInt64LittleEndian(src[(8 * i)..]);
                break;
            case DType.U64:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadUInt64LittleEndian(src[(8 * i)..]);
                break;
            case DType.I32:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadInt32LittleEndian(src[(4 * i)..]);
                break;
            case DType.U32:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadUInt32LittleEndian(src[(4 * i)..]);
                break;
            case DType.I16:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadInt16LittleEndian(src[(2 * i)..]);
                break;
            case DType.U16:
                for (int i = 0; i < n; i++) dst[i] = BinaryPrimitives.ReadUInt16LittleEndian(src[(2 * i)..]);
                break;
            case DType.I8:
                for (int i = 0; i < n; i++) dst[i] = (sbyte)src[i];
                break;
            case DType.U8:
                for (int i = 0; i < n; i++) dst[i] = src[i];
                break;
            case DType.Bool:
                for (int i = 0; i < n; i++) dst[i] = src[i] != 0 ? 1f : 0f;
                break;
        }
    }

    /// <summary>Converts float32 values to little-endian elements of a float type (F32/F16/BF16/F64).</summary>
    public static void FromFloat(DType t, ReadOnlySpan<float> src, Span<byte> dst)
    {
        int n = src.Length;
        switch (t)
        {
            case DType.F32:
                MemoryMarshal.AsBytes(src).CopyTo(dst);
                break;
            case DType.F16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], BitConverter.HalfToUInt16Bits((Half)src[i]));
                break;
            case DType.BF16:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteUInt16LittleEndian(dst[(2 * i)..], FloatToBf16(src[i]));
                break;
            case DType.F64:
                for (int i = 0; i < n; i++) BinaryPrimitives.WriteDoubleLittleEndian(dst[(8 * i)..], src[i]);
                break;
            default:
                throw new ArgumentException($"cannot write float data as {t}");
        }
    }

    /// <summary>Round-to-nearest-even float32 → bfloat16 (NaN kept quiet), as torch does.</summary>
    public static ushort FloatToBf16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        uint rounding = 0x7FFF + ((bits >> 16) & 1);
        return (ushort)((bits + rounding) >> 16);
    }

    /// <summary>Reverses the bytes of every element in place (big-endian source data).</summary>
    public static void SwapBytes(Span<byte> data, int itemSize)
    {
        if (itemSize == 1) return;
        for (int i = 0; i + itemSize <= data.Length; i += itemSize) data.Slice(i, itemSize).Reverse();
    }
}
