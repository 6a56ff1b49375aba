using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Conv2d through im2col + GEMM (direct patch GEMM when kernel = stride and no padding) and MaxPool2d.</summary>
internal static class NnConv
{
    private static ConvGeometry Geometry(Tensor x, int kh, int kw, int stride, Padding2d pad, string op)
    {
        if (x.Rank != 4) throw new ShapeException($"{op}: input must be NCHW, got {x.ShapeString}");
        if (stride <= 0) throw new ShapeException($"{op}: stride {stride} must be positive (input {x.ShapeString})");
        if (pad.Top < 0 || pad.Bottom < 0 || pad.Left < 0 || pad.Right < 0) throw new ShapeException($"{op}: negative padding {pad}");
        int h = x.Shape[2], w = x.Shape[3];
        int ph = h + pad.Top + pad.Bottom, pw = w + pad.Left + pad.Right;
        if (ph < kh || pw < kw)
            throw new ShapeException($"{op}: kernel {kh}×{kw} is larger than the padded input {ph}×{pw} (input {x.ShapeString})");
        return new ConvGeometry(x.Shape[1], h, w, kh, kw, stride, pad.Top, pad.Left, (ph - kh) / stride + 1, (pw - kw) / stride + 1);
    }

    public static Tensor Conv2d(Tensor x, Tensor weight, Tensor? bias, int stride, Padding2d padding)
    {
        if (weight.Rank != 4) throw new ShapeException($"conv2d: weight must be (O, I, kh, kw), got {weight.ShapeString}");
        if (x.Rank != 4 || x.Shape[1] != weight.Shape[1])
            throw new ShapeException($"conv2d: input {x.ShapeString} does not have the {weight.Shape[1]} channels of weight {weight.ShapeString}");
        int o = weight.Shape[0];
        NnUtil.CheckVector(bias, o, "conv2d", "bias", x);
        var g = Geometry(x, weight.Shape[2], weight.Shape[3], stride, padding, "conv2d");
        int n = x.Shape[0], rows = g.Rows, cols = g.Cols;
        var xd = NnUtil.Dense(x);
        var wd = NnUtil.Dense(weight);
        var bspan = bias == null ? default : (ReadOnlySpan<float>)NnUtil.Span(NnUtil.Dense(bias));
        bool grad = Graph.NeedsGrad(x, weight, bias);
        bool patch = g.KH == stride && g.KW == stride && padding.IsZero;
        if (patch)
        {
            // Patch embedding: A (N·P × C·k·k) is a re-ordering of x; Y = A·Wᵀ lands as (N, P, O), returned as an
            // (N, O, OH, OW) view of it so flatten(2).transpose(1, 2) is free.
            var a = Tensor.Empty(n * cols, rows);
            Conv2dKernels.Patches(NnUtil.Span(xd), n, g, a.AsSpan(), scatter: false);
            var y = new Tensor(Storage.Allocate(n * cols * o, clear: false), [n, o, g.OH, g.OW], [cols * o, 1, g.OW * o, o]);
            var ys = y.Storage.Data.AsSpan(0, n * cols * o);
            if (rows == 0) ys.Clear();
            else Gemm.Sgemm(false, true, n * cols, o, rows, 1f, a.AsSpan(), rows, NnUtil.Span(wd), rows, 0f, ys, o);
            if (bias != null) VecElementwise.BiasAct<IdentityOp>(ys, n * cols, o, bspan, ys);
            if (grad) Graph.Record(y, new PatchConvNode(x, weight, bias, a, wd, g));
            return y;
        }
        var yy = Tensor.Empty(n, o, g.OH, g.OW);
        bool pointwise = g.KH == 1 && g.KW == 1 && stride == 1 && padding.IsZero;
        var colArr = System.Buffers.ArrayPool<float>.Shared.Rent(pointwise ? 1 : Math.Max(1, rows * cols));
        var col = colArr.AsSpan(0, pointwise ? 0 : rows * cols);
        var xs = NnUtil.Span(xd);
        var outS = yy.AsSpan();
        int inPlane = g.C * g.H * g.W;
        for (int s = 0; s < n; s++)
        {
            var dst = outS.Slice(s * o * cols, o * cols);
            // A 1×1 stride-1 unpadded convolution reads the image itself as its column matrix.
            ReadOnlySpan<float> src = pointwise ? xs.Slice(s * inPlane, inPlane) : col;
            if (!pointwise) Conv2dKernels.Im2Col(xs.Slice(s * inPlane, inPlane), g, col);
            if (rows == 0) dst.Clear();
            else Gemm.Sgemm(false, false, o, cols, rows, 1f, NnUtil.Span(wd), rows, src, cols, 0f, dst, cols);
            if (bias != null)
                for (int c = 0; c < o; c++) System.Numerics.Tensors.TensorPrimitives.Add(dst.Slice(c * cols, cols), bspan[c], dst.Slice(c * cols, cols));
        }
        System.Buffers.ArrayPool<float>.Shared.Return(colArr);
        if (grad) Graph.Record(yy, new ConvNode(x, weight, bias, xd, wd, g));
        return yy;
    }

    private static Tensor[] Inputs(Tensor x, Tensor w, Tensor? b) => b == null ? [x, w] : [x, w, b];

    private sealed class ConvNode(Tensor x, Tensor w, Tensor? b, Tensor xd, Tensor wd, ConvGeometry g) : GradNode(Inputs(x, w, b))
    {
        private Tensor? xd = xd, wd = wd;
        public override string Name => "Conv2d";

        public override Tensor?[] Backward(Tensor grad)
        {
            var gd = NnUtil.Dense(grad);
            var gs = NnUtil.Span(gd);
            var x = Inputs[0];
            var w = Inputs[1];
            int n = x.Shape[0], o = w.Shape[0], rows = g.Rows, cols = g.Cols, inPlane = g.C * g.H * g.W;
            Tensor? dx = x.RequiresGrad ? Tensor.Zeros(x.Shape) : null;
            Tensor? dw = w.RequiresGrad ? Tensor.Zeros(w.Shape) : null;
            Tensor? db = null;
            var colArr = System.Buffers.ArrayPool<float>.Shared.Rent(Math.Max(1, rows * cols));
            var col = colArr.AsSpan(0, rows * cols);
            var xs = NnUtil.Span(xd!);
            for (int s = 0; s < n; s++)
            {
                var gn = gs.Slice(s * o * cols, o * cols);
                if (dw != null && rows > 0 && cols > 0)
                {
                    Conv2dKernels.Im2Col(xs.Slice(s * inPlane, inPlane), g, col);
                    Gemm.Sgemm(false, true, o, rows, cols, 1f, gn, cols, col, cols, 1f, dw.AsSpan(), rows);
                }
                if (dx != null && rows > 0 && cols > 0)
                {
                    Gemm.Sgemm(true, false, rows, cols, o, 1f, NnUtil.Span(wd!), rows, gn, cols, 0f, col, cols);
                    Conv2dKernels.Col2Im(col, g, dx.AsSpan().Slice(s * inPlane, inPlane));
                }
            }
            System.Buffers.ArrayPool<float>.Shared.Return(colArr);
            if (Inputs.Length == 3 && Inputs[2].RequiresGrad)
            {
                db = Tensor.Zeros(o);
                var d = db.AsSpan();
                for (int s = 0; s < n; s++)
                    for (int c = 0; c < o; c++) d[c] += System.Numerics.Tensors.TensorPrimitives.Sum(gs.Slice((s * o + c) * cols, cols));
            }
            return Inputs.Length == 3 ? [dx, dw, db] : [dx, dw];
        }

        public override void Release() { xd = null; wd = null; }
    }

    private sealed class PatchConvNode(Tensor x, Tensor w, Tensor? b, Tensor a, Tensor wd, ConvGeometry g) : GradNode(Inputs(x, w, b))
    {
        private Tensor? a = a, wd = wd;
        public override string Name => "PatchConv2d";

        public override Tensor?[] Backward(Tensor grad)
        {
            var x = Inputs[0];
            var w = Inputs[1];
            int n = x.Shape[0], o = w.Shape[0], rows = g.Rows, cols = g.Cols, m = n * cols;
            // (N, O, OH, OW) → (N, OH, OW, O): contiguous without a copy when the gradient came through the usual
            // flatten/transpose of our own output layout.
            var gd = NnUtil.Dense(grad.Permute(0, 2, 3, 1));
            var gs = NnUtil.Span(gd);
            Tensor? dx = null, dw = null, db = null;
            if (x.RequiresGrad)
            {
                var da = Tensor.Empty(m, rows);
                if (o == 0) da.AsSpan().Clear();
                else Gemm.Sgemm(false, false, m, rows, o, 1f, gs, o, NnUtil.Span(wd!), rows, 0f, da.AsSpan(), rows);
                dx = Tensor.Zeros(x.Shape);
                Conv2dKernels.Patches(dx.AsSpan(), n, g, da.AsSpan(), scatter: true);
            }
            if (w.RequiresGrad)
            {
                dw = Tensor.Empty(w.Shape);
                if (m == 0) dw.AsSpan().Clear();
                else Gemm.Sgemm(true, false, o, rows, m, 1f, gs, o, a!.AsSpan(), rows, 0f, dw.AsSpan(), rows);
            }
            if (Inputs.Length == 3 && Inputs[2].RequiresGrad)
            {
                db = Tensor.Zeros(o);
                var d = db.AsSpan();
                for (int r = 0; r < m; r++) System.Numerics.Tensors.TensorPrimitives.Add(d, gs.Slice(r * o, o), d);
            }
            return Inputs.Length == 3 ? [dx, dw, db] : [dx, dw];
        }

        public override void Release() { a = null; wd = null; }
    }

    public static Tensor MaxPool2d(Tensor x, int kernel, int stride, Padding2d padding)
    {
        if (kernel <= 0) throw new ShapeException($"max_pool2d: kernel {kernel} must be positive (input {x.ShapeString})");
        var g = Geometry(x, kernel, kernel, stride, padding, "max_pool2d");
        int n = x.Shape[0], c = x.Shape[1];
        var xd = NnUtil.Dense(x);
        var y = Tensor.Empty(n, c, g.OH, g.OW);
        bool grad = Graph.NeedsGrad(x);
        // The argmax is only kept for the backward; inference borrows a pooled buffer.
        var arg = grad ? new int[y.Numel] : System.Buffers.ArrayPool<int>.Shared.Rent(y.Numel);
        Pool.MaxPool2d(NnUtil.Span(xd), n * c, g, y.AsSpan(), arg);
        if (grad) Graph.Record(y, new MaxPoolNode(x, arg));
        else System.Buffers.ArrayPool<int>.Shared.Return(arg);
        return y;
    }

    private sealed class MaxPoolNode(Tensor x, int[] argmax) : GradNode(x)
    {
        public override Tensor?[] Backward(Tensor grad)
        {
            var gd = NnUtil.Dense(grad);
            var dx = Tensor.Zeros(Inputs[0].Shape);
            Pool.MaxPool2dBackward(NnUtil.Span(gd), argmax, dx.AsSpan());
            return [dx];
        }
    }
}
