using VitSharp.Tensors;

namespace VitSharp.Checkpoints;

/// <summary>
/// An array as stored in a file, before conversion: element type, shape and little-endian C-order bytes.
/// Integer and bool arrays can be used raw; <see cref="ToTensor"/> converts anything to float32.
/// </summary>
public sealed class RawArray
{
    public DType DType { get; }
    public int[] Shape { get; }
    public byte[] Data { get; }

    public RawArray(DType dtype, int[] shape, byte[] data)
    {
        long n = NumelOf(shape);
        if (n * dtype.ItemSize() != data.LongLength)
            throw new ArgumentException($"RawArray: {data.LongLength} bytes do not hold {Tensor.ShapeToString(shape)} of {dtype}");
        DType = dtype;
        Shape = shape;
        Data = data;
    }

    public long Numel => NumelOf(Shape);

    public static long NumelOf(ReadOnlySpan<int> shape)
    {
        long n = 1;
        foreach (var d in shape) n *= d;
        return n;
    }

    public Tensor ToTensor()
    {
        var t = Tensor.Empty(Shape);
        if (t.Numel > 0) DTypes.ToFloat(DType, Data, t.Storage.AsSpan()[..t.Numel]);
        return t;
    }

    /// <summary>Float32 tensor data as a raw array of <paramref name="dtype"/> (F32/F16/BF16/F64).</summary>
    public static RawArray FromTensor(Tensor t, DType dtype = DType.F32)
    {
        ReadOnlySpan<float> src = t.IsContiguous ? t.AsSpan() : t.ToArray();
        var bytes = new byte[(long)src.Length * dtype.ItemSize()];
        DTypes.FromFloat(dtype, src, bytes);
        return new RawArray(dtype, (int[])t.Shape.Clone(), bytes);
    }

    /// <summary>Values as 64-bit integers (for integer arrays such as step counters).</summary>
    public long[] ToInt64()
    {
        var r = new long[Numel];
        var f = DType.IsFloat() ? ToTensor().ToArray() : null;
        for (int i = 0; i < r.Length; i++)
        {
            var s = Data.AsSpan(i * DType.ItemSize());
            r[i] = DType switch
            {
                DType.I64 => BitConverter.ToInt64(s),
                DType.U64 => (long)BitConverter.ToUInt64(s),
                DType.I32 => BitConverter.ToInt32(s),
                DType.U32 => BitConverter.ToUInt32(s),
                DType.I16 => BitConverter.ToInt16(s),
                DType.U16 => BitConverter.ToUInt16(s),
                DType.I8 => (sbyte)s[0],
                DType.U8 or DType.Bool => s[0],
                _ => (long)f![i],
            };
        }
        return r;
    }
}
