using System.Runtime.CompilerServices;
using System.Text;
using VitSharp.Autograd;

namespace VitSharp.Tensors;

/// <summary>
/// A float32 tensor: a <see cref="Storage"/> plus a layout (shape, strides in elements, offset).
/// Views (reshape of contiguous data, permute, narrow, expand, ...) share the storage. Operations record a
/// <see cref="GradNode"/> when gradients are wanted, and <see cref="Backward"/> walks that graph.
/// Arithmetic, reductions and matmul live in the other parts of this partial class (Autograd/Ops*.cs).
/// </summary>
public sealed partial class Tensor
{
    private readonly int[] shape;
    private readonly int[] strides;

    public Storage Storage { get; }
    public int Offset { get; }

    /// <summary>The sizes of each dimension. Do not mutate the returned array.</summary>
    public int[] Shape => shape;

    /// <summary>Strides in elements for each dimension. Do not mutate the returned array.</summary>
    public int[] Strides => strides;

    public int Rank => shape.Length;
    public int Numel { get; }

    // ---- autograd state ----
    /// <summary>Whether gradients flow to/through this tensor.</summary>
    public bool RequiresGrad { get; set; }

    /// <summary>Accumulated gradient (leaf tensors, or any tensor with <see cref="RetainGrad"/>).</summary>
    public Tensor? Grad { get; set; }

    /// <summary>The operation that produced this tensor, when recorded for backward.</summary>
    public GradNode? Node { get; internal set; }

    /// <summary>Keep the gradient of a non-leaf tensor after backward.</summary>
    public bool RetainGrad { get; set; }

    public bool IsLeaf => Node == null;

    /// <summary>Optional name (parameter name) used in error messages.</summary>
    public string? Name { get; set; }

    public Tensor(Storage storage, int[] shape, int[] strides, int offset = 0)
    {
        if (shape.Length != strides.Length)
            throw new ShapeException($"Tensor: shape {ShapeToString(shape)} and strides {ShapeToString(strides)} differ in rank");
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ShapeException($"Tensor: negative dimension in shape {ShapeToString(shape)}");
            n *= d;
        }
        if (n > int.MaxValue) throw new ShapeException($"Tensor: shape {ShapeToString(shape)} has more than 2^31 elements");
        Storage = storage;
        this.shape = shape;
        this.strides = strides;
        Offset = offset;
        Numel = (int)n;
    }

    public Tensor(Storage storage, int[] shape) : this(storage, shape, ContiguousStrides(shape)) { }

    // ---------------------------------------------------------------- factories

    public static Tensor Empty(params int[] shape) => new(Storage.Allocate(CheckedNumel(shape), clear: false), (int[])shape.Clone());

    public static Tensor Zeros(params int[] shape) => new(Storage.Allocate(CheckedNumel(shape), clear: true), (int[])shape.Clone());

    public static Tensor Ones(params int[] shape) => Full(1f, shape);

    public static Tensor Full(float value, params int[] shape)
    {
        var t = Empty(shape);
        t.Storage.AsSpan().Fill(value);
        return t;
    }

    public static Tensor Scalar(float value) => FromArray([value]);

    /// <summary>Wraps <paramref name="data"/> (no copy) with the given shape (default: 1-D).</summary>
    public static Tensor FromArray(float[] data, params int[] shape)
    {
        if (shape.Length == 0 && data.Length != 1) shape = [data.Length];
        int n = CheckedNumel(shape);
        if (n != data.Length)
            throw new ShapeException($"FromArray: {data.Length} values do not fill shape {ShapeToString(shape)} ({n} elements)");
        return new Tensor(Storage.Wrap(data), (int[])shape.Clone());
    }

    /// <summary>Copies <paramref name="data"/> into a new tensor.</summary>
    public static Tensor FromSpan(ReadOnlySpan<float> data, params int[] shape)
    {
        var t = Empty(shape);
        if (t.Numel != data.Length)
            throw new ShapeException($"FromSpan: {data.Length} values do not fill shape {ShapeToString(shape)} ({t.Numel} elements)");
        data.CopyTo(t.Storage.AsSpan());
        return t;
    }

    public static Tensor Arange(int n)
    {
        var t = Empty(n);
        var s = t.Storage.AsSpan();
        for (int i = 0; i < n; i++) s[i] = i;
        return t;
    }

    /// <summary>Standard normal values from <paramref name="rng"/> (Box-Muller), scaled by <paramref name="std"/>.</summary>
    public static Tensor RandN(Random rng, float std, params int[] shape)
    {
        var t = Empty(shape);
        var s = t.Storage.AsSpan();
        for (int i = 0; i < s.Length; i += 2)
        {
            double u1 = 1.0 - rng.NextDouble(), u2 = rng.NextDouble();
            double r = Math.Sqrt(-2.0 * Math.Log(u1));
            s[i] = (float)(r * Math.Cos(2 * Math.PI * u2) * std);
            if (i + 1 < s.Length) s[i + 1] = (float)(r * Math.Sin(2 * Math.PI * u2) * std);
        }
        return t;
    }

    /// <summary>Uniform values in [lo, hi).</summary>
    public static Tensor RandUniform(Random rng, float lo, float hi, params int[] shape)
    {
        var t = Empty(shape);
        var s = t.Storage.AsSpan();
        for (int i = 0; i < s.Length; i++) s[i] = lo + (float)rng.NextDouble() * (hi - lo);
        return t;
    }

    // ---------------------------------------------------------------- layout helpers

    public static int[] ContiguousStrides(int[] shape)
    {
        var st = new int[shape.Length];
        int acc = 1;
        for (int i = shape.Length - 1; i >= 0; i--)
        {
            st[i] = acc;
            acc *= Math.Max(shape[i], 1);
        }
        return st;
    }

    public static int CheckedNumel(int[] shape)
    {
        long n = 1;
        foreach (var d in shape)
        {
            if (d < 0) throw new ShapeException($"negative dimension in shape {ShapeToString(shape)}");
            n *= d;
        }
        if (n > int.MaxValue) throw new ShapeException($"shape {ShapeToString(shape)} has more than 2^31 elements");
        return (int)n;
    }

    public static string ShapeToString(ReadOnlySpan<int> shape)
    {
        var sb = new StringBuilder("[");
        for (int i = 0; i < shape.Length; i++)
        {
            if (i > 0) sb.Append(", ");
            sb.Append(shape[i]);
        }
        return sb.Append(']').ToString();
    }

    public string ShapeString => ShapeToString(shape);

    /// <summary>Normalises a possibly negative dimension index.</summary>
    public int Dim(int dim, string op = "dim")
    {
        int d = dim < 0 ? dim + Rank : dim;
        if (d < 0 || d >= Rank) throw new ShapeException($"{op}: dimension {dim} out of range for shape {ShapeString}");
        return d;
    }

    public int Size(int dim) => shape[Dim(dim, "size")];

    /// <summary>True when elements are laid out densely in row-major order (any offset).</summary>
    public bool IsContiguous
    {
        get
        {
            if (Numel == 0) return true; // nothing to lay out; lets empty tensors use dense paths
            int acc = 1;
            for (int i = shape.Length - 1; i >= 0; i--)
            {
                if (shape[i] != 1 && strides[i] != acc) return false;
                acc *= shape[i];
            }
            return true;
        }
    }

    /// <summary>The elements as a span; only for contiguous tensors.</summary>
    public Span<float> AsSpan()
    {
        if (!IsContiguous) throw new ShapeException($"AsSpan: tensor of shape {ShapeString} strides {ShapeToString(strides)} is not contiguous; call Contiguous() first");
        return Numel == 0 ? [] : Storage.Data.AsSpan(Offset, Numel);
    }

    /// <summary>Reference to the first element (contiguous or not) for kernels that walk strides.</summary>
    public ref float DataRef => ref Storage.Ref(Offset);

    public float[] ToArray()
    {
        var r = new float[Numel];
        CopyTo(r);
        return r;
    }

    /// <summary>Copies elements in row-major logical order into <paramref name="dst"/>.</summary>
    public void CopyTo(Span<float> dst)
    {
        if (dst.Length < Numel) throw new ShapeException($"CopyTo: destination holds {dst.Length} elements, tensor {ShapeString} has {Numel}");
        if (IsContiguous)
        {
            Storage.Data.AsSpan(Offset, Numel).CopyTo(dst);
            return;
        }
        StridedCopy(Storage.Data, Offset, shape, strides, dst);
    }

    /// <summary>Copies a strided view into a dense destination. Innermost dimension is the fast loop.</summary>
    internal static unsafe void StridedCopy(float[] src, int offset, int[] shape, int[] strides, Span<float> dst)
    {
        int rank = shape.Length;
        if (rank == 0) { dst[0] = src[offset]; return; }
        int n = 1;
        foreach (var d in shape) n *= d;
        if (n == 0) return;
        Span<int> ds = stackalloc int[rank];
        int acc = 1;
        for (int i = rank - 1; i >= 0; i--) { ds[i] = acc; acc *= shape[i]; }
        fixed (float* ps = src, pd = dst)
            Kernels.Copy.Strided(shape, ps + offset, strides, pd, ds);
    }

    public float Item()
    {
        if (Numel != 1) throw new ShapeException($"Item: tensor of shape {ShapeString} has {Numel} elements, not 1");
        return Storage.Data[Offset];
    }

    /// <summary>Element access by full index (slow; for tests and small work).</summary>
    [IndexerName("At")]
    public float this[params int[] index]
    {
        get => Storage.Data[ElementOffset(index)];
        set => Storage.Data[ElementOffset(index)] = value;
    }

    private int ElementOffset(int[] index)
    {
        if (index.Length != Rank) throw new ShapeException($"index of rank {index.Length} into tensor of shape {ShapeString}");
        int o = Offset;
        for (int i = 0; i < index.Length; i++)
        {
            int ix = index[i] < 0 ? index[i] + shape[i] : index[i];
            if ((uint)ix >= (uint)shape[i]) throw new ShapeException($"index {index[i]} out of range for dimension {i} of shape {ShapeString}");
            o += ix * strides[i];
        }
        return o;
    }

    public override string ToString()
    {
        var sb = new StringBuilder($"Tensor{ShapeString}");
        if (Numel <= 16)
        {
            sb.Append(" [");
            var a = ToArray();
            for (int i = 0; i < a.Length; i++) sb.Append(i > 0 ? ", " : "").Append(a[i].ToString("G6", System.Globalization.CultureInfo.InvariantCulture));
            sb.Append(']');
        }
        if (RequiresGrad) sb.Append(" requires_grad");
        return sb.ToString();
    }

    /// <summary>Same data and layout, cut from the graph.</summary>
    public Tensor Detach() => new(Storage, shape, strides, Offset);

    /// <summary>A dense copy (recorded for autograd).</summary>
    public Tensor Clone()
    {
        var r = Empty(shape);
        CopyTo(r.Storage.AsSpan());
        if (Graph.NeedsGrad(this)) Graph.Record(r, new IdentityNode(this));
        return r;
    }

    /// <summary>This tensor if contiguous, else a dense copy.</summary>
    public Tensor Contiguous() => IsContiguous ? this : Clone();

    /// <summary>In-place fill (no autograd).</summary>
    public Tensor Fill_(float value)
    {
        if (IsContiguous) AsSpan().Fill(value);
        else ForEachOffset((ref float x) => x = value);
        return this;
    }

    /// <summary>In-place copy from a tensor of the same numel (no autograd); strided destinations allowed.</summary>
    public Tensor CopyFrom(Tensor src)
    {
        if (src.Numel != Numel) throw new ShapeException($"CopyFrom: source shape {src.ShapeString} and destination shape {ShapeString} differ in size");
        if (IsContiguous) { src.CopyTo(AsSpan()); return this; }
        var tmp = src.ToArray();
        int i = 0;
        ForEachOffset((ref float x) => x = tmp[i++]);
        return this;
    }

    internal delegate void ElementAction(ref float x);

    /// <summary>Visits every element in logical row-major order (slow path helper).</summary>
    internal void ForEachOffset(ElementAction action)
    {
        if (Numel == 0) return;
        int rank = Rank;
        var data = Storage.Data;
        if (rank == 0) { action(ref data[Offset]); return; }
        Span<int> idx = stackalloc int[rank];
        int off = Offset;
        while (true)
        {
            action(ref data[off]);
            int k = rank - 1;
            for (; k >= 0; k--)
            {
                idx[k]++;
                off += strides[k];
                if (idx[k] < shape[k]) break;
                off -= strides[k] * shape[k];
                idx[k] = 0;
            }
            if (k < 0) break;
        }
    }

    /// <summary>Runs backward from this tensor (a scalar, or with an explicit output gradient).</summary>
    public void Backward(Tensor? gradient = null, bool retainGraph = false) => Graph.Backward(this, gradient, retainGraph);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static bool SameShape(int[] a, int[] b) => a.AsSpan().SequenceEqual(b);
}
