using VitSharp.Tensors;

namespace VitSharp.Tensors;

// Arithmetic, reductions, matmul, joins and indexing with autograd. CONTRACT: signatures are fixed
// (models and training code against them); implementations are in Autograd/Ops*.cs.
public sealed partial class Tensor
{
    public static Tensor operator +(Tensor a, Tensor b) => Add(a, b);
    public static Tensor operator -(Tensor a, Tensor b) => Sub(a, b);
    public static Tensor operator *(Tensor a, Tensor b) => Mul(a, b);
    public static Tensor operator /(Tensor a, Tensor b) => Div(a, b);
    public static Tensor operator +(Tensor a, float b) => AddScalar(a, b);
    public static Tensor operator -(Tensor a, float b) => AddScalar(a, -b);
    public static Tensor operator *(Tensor a, float b) => MulScalar(a, b);
    public static Tensor operator *(float b, Tensor a) => MulScalar(a, b);
    public static Tensor operator /(Tensor a, float b) => MulScalar(a, 1f / b);
    public static Tensor operator -(Tensor a) => MulScalar(a, -1f);

    /// <summary>Broadcasting element-wise ops (NumPy rules).</summary>
    public static Tensor Add(Tensor a, Tensor b) => BinaryRecorded(a, b, BinaryKind.Add);
    public static Tensor Sub(Tensor a, Tensor b) => BinaryRecorded(a, b, BinaryKind.Sub);
    public static Tensor Mul(Tensor a, Tensor b) => BinaryRecorded(a, b, BinaryKind.Mul);
    public static Tensor Div(Tensor a, Tensor b) => BinaryRecorded(a, b, BinaryKind.Div);
    public static Tensor AddScalar(Tensor a, float b) => AddScalarImpl(a, b);
    public static Tensor MulScalar(Tensor a, float b) => MulScalarImpl(a, b);

    public Tensor Exp() => UnaryRecorded(UnaryKind.Exp);
    public Tensor Log() => UnaryRecorded(UnaryKind.Log);
    public Tensor Sqrt() => UnaryRecorded(UnaryKind.Sqrt);
    public Tensor Pow(float exponent) => UnaryRecorded(UnaryKind.Pow, exponent);
    public Tensor Abs() => UnaryRecorded(UnaryKind.Abs);
    public Tensor Clamp(float min, float max) => UnaryRecorded(UnaryKind.Clamp, min, max);

    /// <summary>Sum of all elements (a 1-element tensor of shape []).</summary>
    public Tensor Sum() => SumAllImpl(1f, "sum");
    public Tensor Sum(int dim, bool keepDim = false) => SumDimImpl(dim, keepDim, mean: false, "sum");
    public Tensor Mean() => SumAllImpl(1f / Numel, "mean");
    public Tensor Mean(int dim, bool keepDim = false) => SumDimImpl(dim, keepDim, mean: true, "mean");
    /// <summary>Max along a dimension (gradient flows to the first maximal element).</summary>
    public Tensor Max(int dim, bool keepDim = false) => MaxImpl(dim, keepDim);
    /// <summary>Index of the (first) max along a dimension (no gradient), in row-major order of the remaining dims.</summary>
    public int[] ArgMax(int dim) => MaxCore(dim, keepDim: false, "argmax").index;

    /// <summary>Matrix product with batch broadcasting (like torch.matmul for rank ≥ 2; rank-1 operands promoted).</summary>
    public static Tensor MatMul(Tensor a, Tensor b) => MatMulImpl(a, b);
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim) => CatImpl(tensors, dim);
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim) => StackImpl(tensors, dim);
    public Tensor IndexSelect(int dim, int[] index) => IndexSelectImpl(dim, index);
    /// <summary>torch.gather: out[i][j] = this[i][index[i][j]] for dim = 1 (general rank).</summary>
    public Tensor Gather(int dim, Tensor index) => GatherImpl(dim, index);
}
