using VitSharp.Tensors;

namespace VitSharp.Tensors;

// Arithmetic, reductions, matmul, joins and indexing with autograd. CONTRACT: signatures are fixed
// (models and training code against them); bodies are filled in by the ops work.
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
    public static Tensor Add(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Sub(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Mul(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Div(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor AddScalar(Tensor a, float b) => throw new NotImplementedException();
    public static Tensor MulScalar(Tensor a, float b) => throw new NotImplementedException();

    public Tensor Exp() => throw new NotImplementedException();
    public Tensor Log() => throw new NotImplementedException();
    public Tensor Sqrt() => throw new NotImplementedException();
    public Tensor Pow(float exponent) => throw new NotImplementedException();
    public Tensor Abs() => throw new NotImplementedException();
    public Tensor Clamp(float min, float max) => throw new NotImplementedException();

    /// <summary>Sum of all elements (a 1-element tensor of shape []).</summary>
    public Tensor Sum() => throw new NotImplementedException();
    public Tensor Sum(int dim, bool keepDim = false) => throw new NotImplementedException();
    public Tensor Mean() => throw new NotImplementedException();
    public Tensor Mean(int dim, bool keepDim = false) => throw new NotImplementedException();
    /// <summary>Max along a dimension (gradient flows to the first maximal element).</summary>
    public Tensor Max(int dim, bool keepDim = false) => throw new NotImplementedException();
    /// <summary>Index of the max along a dimension (no gradient); values are stored as floats.</summary>
    public int[] ArgMax(int dim) => throw new NotImplementedException();

    /// <summary>Matrix product with batch broadcasting (like torch.matmul for rank ≥ 2; rank-1 operands promoted).</summary>
    public static Tensor MatMul(Tensor a, Tensor b) => throw new NotImplementedException();
    public static Tensor Cat(IReadOnlyList<Tensor> tensors, int dim) => throw new NotImplementedException();
    public static Tensor Stack(IReadOnlyList<Tensor> tensors, int dim) => throw new NotImplementedException();
    public Tensor IndexSelect(int dim, int[] index) => throw new NotImplementedException();
    /// <summary>torch.gather: out[i][j] = this[i][index[i][j]] for dim = 1 (general rank).</summary>
    public Tensor Gather(int dim, Tensor index) => throw new NotImplementedException();
}
