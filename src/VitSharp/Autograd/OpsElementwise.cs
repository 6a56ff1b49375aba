using VitSharp.Autograd;
using VitSharp.Kernels;

namespace VitSharp.Tensors;

// Element-wise arithmetic and unary math with autograd. Kernels live in Kernels/Elementwise.cs.
public sealed partial class Tensor
{
    internal enum BinaryKind { Add, Sub, Mul, Div }

    /// <summary>Strides of <paramref name="t"/> seen through a broadcast to <paramref name="outShape"/> (0 on broadcast dims).</summary>
    internal static void BroadcastStrides(Tensor t, ReadOnlySpan<int> outShape, Span<int> result)
    {
        int lead = outShape.Length - t.Rank;
        for (int i = 0; i < outShape.Length; i++)
        {
            if (i < lead) { result[i] = 0; continue; }
            int d = t.shape[i - lead];
            result[i] = d == 1 && outShape[i] != 1 ? 0 : t.strides[i - lead];
        }
    }

    private static void CheckRank(int rank, string op)
    {
        if (rank > Elementwise.MaxRank) throw new ShapeException($"{op}: rank {rank} exceeds the supported {Elementwise.MaxRank}");
    }

    /// <summary>c = op(a, b) where a and b broadcast to c's shape (c may be a or b at the same layout: in-place).</summary>
    internal static unsafe void BinaryInto<TOp>(Tensor c, Tensor a, Tensor b, TOp op) where TOp : struct, IBinaryOp
    {
        if (c.Numel == 0) return;
        int rank = c.Rank;
        CheckRank(rank, "elementwise");
        Span<int> sa = stackalloc int[rank];
        Span<int> sb = stackalloc int[rank];
        BroadcastStrides(a, c.shape, sa);
        BroadcastStrides(b, c.shape, sb);
        fixed (float* pa = a.Storage.Data, pb = b.Storage.Data, pc = c.Storage.Data)
            Elementwise.Binary(op, c.shape, pa + a.Offset, sa, pb + b.Offset, sb, pc + c.Offset, c.strides);
    }

    /// <summary>y = op(x) with x broadcast to y's shape (y may be x: in-place).</summary>
    internal static unsafe void UnaryInto<TOp>(Tensor y, Tensor x, TOp op) where TOp : struct, IUnaryOp
    {
        if (y.Numel == 0) return;
        int rank = y.Rank;
        CheckRank(rank, "elementwise");
        Span<int> sx = stackalloc int[rank];
        BroadcastStrides(x, y.shape, sx);
        fixed (float* px = x.Storage.Data, py = y.Storage.Data)
            Elementwise.Unary(op, y.shape, px + x.Offset, sx, py + y.Offset, y.strides);
    }

    /// <summary>A new dense tensor op(a, b) with the broadcast shape (never recorded).</summary>
    internal static Tensor BinaryNew<TOp>(Tensor a, Tensor b, TOp op, string name) where TOp : struct, IBinaryOp
    {
        var c = Empty(SameShape(a.shape, b.shape) ? a.shape : BroadcastShapes(a.shape, b.shape, name));
        BinaryInto(c, a, b, op);
        return c;
    }

    /// <summary>A new dense tensor op(x) (never recorded).</summary>
    internal static Tensor UnaryNew<TOp>(Tensor x, TOp op) where TOp : struct, IUnaryOp
    {
        var y = Empty(x.shape);
        UnaryInto(y, x, op);
        return y;
    }

    private static Tensor BinaryRecorded(Tensor a, Tensor b, BinaryKind kind)
    {
        Tensor c = kind switch
        {
            BinaryKind.Add => BinaryNew(a, b, new AddOp(), "add"),
            BinaryKind.Sub => BinaryNew(a, b, new SubOp(), "sub"),
            BinaryKind.Mul => BinaryNew(a, b, new MulOp(), "mul"),
            _ => BinaryNew(a, b, new DivOp(), "div"),
        };
        if (Graph.NeedsGrad(a, b)) Graph.Record(c, new BinaryNode(a, b, kind, kind == BinaryKind.Div ? c : null));
        return c;
    }

    private static Tensor AddScalarImpl(Tensor a, float s)
    {
        var c = UnaryNew(a, new AddScalarOp(s));
        if (Graph.NeedsGrad(a)) Graph.Record(c, new AddScalarNode(a));
        return c;
    }

    private static Tensor MulScalarImpl(Tensor a, float s)
    {
        var c = UnaryNew(a, new MulScalarOp(s));
        if (Graph.NeedsGrad(a)) Graph.Record(c, new MulScalarNode(a, s));
        return c;
    }

    internal enum UnaryKind { Exp, Log, Sqrt, Pow, Abs, Clamp }

    private Tensor UnaryRecorded(UnaryKind kind, float p0 = 0, float p1 = 0)
    {
        Tensor y = kind switch
        {
            UnaryKind.Exp => UnaryNew(this, new ExpOp()),
            UnaryKind.Log => UnaryNew(this, new LogOp()),
            UnaryKind.Sqrt => UnaryNew(this, new SqrtOp()),
            UnaryKind.Pow => PowNew(this, p0),
            UnaryKind.Abs => UnaryNew(this, new AbsOp()),
            _ => UnaryNew(this, new ClampOp(p0, p1)),
        };
        if (Graph.NeedsGrad(this)) Graph.Record(y, new UnaryNode(this, y, kind, p0, p1));
        return y;
    }

    private static Tensor PowNew(Tensor x, float p) => p switch
    {
        1f => UnaryNew(x, new MulScalarOp(1f)),
        2f => UnaryNew(x, new SquareOp()),
        3f => UnaryNew(x, new CubeOp()),
        0.5f => UnaryNew(x, new SqrtOp()),
        -0.5f => UnaryNew(x, new RsqrtOp()),
        -1f => UnaryNew(x, new ReciprocalOp()),
        0f => Full(1f, x.shape),
        _ => UnaryNew(x, new PowOp(p)),
    };

    private sealed class BinaryNode(Tensor a, Tensor b, BinaryKind kind, Tensor? output) : GradNode(a, b)
    {
        private Tensor? output = output;

        public override string Name => kind.ToString();

        public override Tensor?[] Backward(Tensor grad)
        {
            var a = Inputs[0];
            var b = Inputs[1];
            Tensor? ga = null, gb = null;
            switch (kind)
            {
                case BinaryKind.Add:
                    if (a.RequiresGrad) ga = SumToShape(grad, a.shape);
                    if (b.RequiresGrad) gb = SumToShape(grad, b.shape);
                    break;
                case BinaryKind.Sub:
                    if (a.RequiresGrad) ga = SumToShape(grad, a.shape);
                    if (b.RequiresGrad) gb = UnaryNew(SumToShape(grad, b.shape), new MulScalarOp(-1f));
                    break;
                case BinaryKind.Mul:
                    if (a.RequiresGrad) ga = SumToShape(BinaryNew(grad, b, new MulOp(), "mul"), a.shape);
                    if (b.RequiresGrad) gb = SumToShape(BinaryNew(grad, a, new MulOp(), "mul"), b.shape);
                    break;
                default:
                    // d(a/b)/da = 1/b ; d(a/b)/db = -(a/b)/b
                    if (a.RequiresGrad) ga = SumToShape(BinaryNew(grad, b, new DivOp(), "div"), a.shape);
                    if (b.RequiresGrad)
                    {
                        var t = BinaryNew(grad, output!, new ScaledMulOp(-1f), "div");
                        BinaryInto(t, t, b, new DivOp());
                        gb = SumToShape(t, b.shape);
                    }
                    break;
            }
            return [ga, gb];
        }

        public override void Release() => output = null;
    }

    private sealed class AddScalarNode(Tensor a) : GradNode(a)
    {
        public override Tensor?[] Backward(Tensor grad) => [grad];
    }

    private sealed class MulScalarNode(Tensor a, float s) : GradNode(a)
    {
        public override Tensor?[] Backward(Tensor grad) => [UnaryNew(grad, new MulScalarOp(s))];
    }

    private sealed class UnaryNode(Tensor x, Tensor y, UnaryKind kind, float p0, float p1) : GradNode(x)
    {
        private Tensor? y = y;

        public override string Name => kind.ToString();

        public override Tensor?[] Backward(Tensor grad)
        {
            var x = Inputs[0];
            Tensor g = kind switch
            {
                UnaryKind.Exp => BinaryNew(grad, y!, new MulOp(), "exp"),
                UnaryKind.Log => BinaryNew(grad, x, new DivOp(), "log"),
                UnaryKind.Sqrt => BinaryNew(grad, y!, new ScaledDivOp(0.5f), "sqrt"),
                UnaryKind.Pow => p0 == 0f ? Zeros(x.shape) : BinaryNew(grad, PowNew(x, p0 - 1f), new ScaledMulOp(p0), "pow"),
                UnaryKind.Abs => BinaryNew(grad, x, new SignMulOp(), "abs"),
                _ => BinaryNew(grad, x, new ClampMaskOp(p0, p1), "clamp"),
            };
            return [g];
        }

        public override void Release() => y = null;
    }

    // ---------------------------------------------------------------- in-place helpers (no autograd)

    private void CheckInPlace(Tensor other, string op)
    {
        if (SameShape(shape, other.shape)) return;
        var bs = BroadcastShapes(shape, other.shape, op);
        if (!SameShape(bs, shape))
            throw new ShapeException($"{op}: shape {other.ShapeString} cannot be broadcast to the destination shape {ShapeString}");
    }

    /// <summary>this += alpha · other (other broadcasts to this); not recorded.</summary>
    public Tensor Add_(Tensor other, float alpha = 1f)
    {
        CheckInPlace(other, "add_");
        if (alpha == 1f) BinaryInto(this, this, other, new AddOp());
        else BinaryInto(this, this, other, new AxpyOp(alpha));
        return this;
    }

    /// <summary>this += s; not recorded.</summary>
    public Tensor Add_(float s)
    {
        UnaryInto(this, this, new AddScalarOp(s));
        return this;
    }

    /// <summary>this *= s; not recorded.</summary>
    public Tensor Mul_(float s)
    {
        UnaryInto(this, this, new MulScalarOp(s));
        return this;
    }

    /// <summary>this *= other (other broadcasts to this); not recorded.</summary>
    public Tensor Mul_(Tensor other)
    {
        CheckInPlace(other, "mul_");
        BinaryInto(this, this, other, new MulOp());
        return this;
    }

    /// <summary>this = clamp(this, min, max); not recorded.</summary>
    public Tensor Clamp_(float min, float max)
    {
        UnaryInto(this, this, new ClampOp(min, max));
        return this;
    }

    /// <summary>Sets every element to zero; not recorded.</summary>
    public Tensor Zero_() => Fill_(0f);

    // ---------------------------------------------------------------- comparisons (tests, checks)

    /// <summary>Same shape and exactly equal elements.</summary>
    public static bool Equal(Tensor a, Tensor b)
    {
        if (!SameShape(a.shape, b.shape)) return false;
        var x = a.ToArray();
        var y = b.ToArray();
        return x.AsSpan().SequenceEqual(y);
    }

    /// <summary>Same shape and |a − b| ≤ atol + rtol·|b| element-wise (NaNs equal only when <paramref name="equalNan"/>).</summary>
    public static bool AllClose(Tensor a, Tensor b, float rtol = 1e-5f, float atol = 1e-8f, bool equalNan = false)
    {
        if (!SameShape(a.shape, b.shape)) return false;
        var x = a.ToArray();
        var y = b.ToArray();
        for (int i = 0; i < x.Length; i++)
        {
            if (float.IsNaN(x[i]) || float.IsNaN(y[i]))
            {
                if (equalNan && float.IsNaN(x[i]) && float.IsNaN(y[i])) continue;
                return false;
            }
            if (x[i] == y[i]) continue; // equal infinities
            if (!(Math.Abs((double)x[i] - y[i]) <= atol + rtol * Math.Abs((double)y[i]))) return false;
        }
        return true;
    }
}
