using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>Linear (x·Wᵀ + b) and Linear+GELU over the last dimension; GEMM in NT form, bias/GELU fused after it.</summary>
internal static class NnLinear
{
    public static Tensor Forward(Tensor x, Tensor weight, Tensor? bias, bool gelu)
    {
        string op = gelu ? "linear_gelu" : "linear";
        if (weight.Rank != 2) throw new ShapeException($"{op}: weight must be (out, in), got {weight.ShapeString}");
        int outF = weight.Shape[0], inF = weight.Shape[1];
        if (x.Rank == 0 || x.Shape[^1] != inF)
            throw new ShapeException($"{op}: input {x.ShapeString} does not end in {inF} features of weight {weight.ShapeString}");
        NnUtil.CheckVector(bias, outF, op, "bias", x);
        var xd = NnUtil.Dense(x);
        var wd = NnUtil.Dense(weight);
        int m = x.Numel / Math.Max(inF, 1);
        var yShape = (int[])x.Shape.Clone();
        yShape[^1] = outF;
        var h = Tensor.Empty(yShape);
        var hs = h.AsSpan();
        var bspan = bias == null ? default : (ReadOnlySpan<float>)NnUtil.Span(NnUtil.Dense(bias));
        bool grad = Graph.NeedsGrad(x, weight, bias);
        Tensor y = h;
        if (inF == 0)
        {
            // No products: y = bias (or 0), then the activation.
            for (int r = 0; r < m; r++) { if (bias != null) bspan.CopyTo(hs.Slice(r * outF, outF)); else hs.Slice(r * outF, outF).Clear(); }
            if (gelu)
            {
                y = grad ? Tensor.Empty(yShape) : h;
                Activations.Gelu(hs, y.AsSpan());
            }
        }
        else if (!gelu)
        {
            Gemm.Sgemm(false, true, m, outF, inF, 1f, NnUtil.Span(xd), inF, NnUtil.Span(wd), inF, 0f, hs, outF, bspan, default(NoEpilogue));
        }
        else if (!grad)
        {
            // Bias and GELU applied to each C block while it is in cache.
            Gemm.Sgemm(false, true, m, outF, inF, 1f, NnUtil.Span(xd), inF, NnUtil.Span(wd), inF, 0f, hs, outF, bspan, new GeluEpilogue(false));
        }
        else
        {
            y = Tensor.Empty(yShape);
            unsafe
            {
                fixed (float* py = y.Storage.Data)
                    Gemm.Sgemm(false, true, m, outF, inF, 1f, NnUtil.Span(xd), inF, NnUtil.Span(wd), inF, 0f, hs, outF, bspan, new GeluToEpilogue(py + y.Offset, outF, false));
            }
        }
        if (grad) Graph.Record(y, new LinearNode(x, weight, bias, xd, wd, gelu ? h : null, m, op));
        return y;
    }

    private sealed class LinearNode : GradNode
    {
        private Tensor? xd, wd, pre;
        private readonly int m;
        private readonly string name;
        private readonly bool hasBias;

        public LinearNode(Tensor x, Tensor w, Tensor? b, Tensor xd, Tensor wd, Tensor? pre, int m, string name)
            : base(b == null ? [x, w] : [x, w, b])
        {
            this.xd = xd; this.wd = wd; this.pre = pre; this.m = m; this.name = name; hasBias = b != null;
        }

        public override string Name => name;

        public override Tensor?[] Backward(Tensor grad)
        {
            var x = Inputs[0];
            var w = Inputs[1];
            int outF = w.Shape[0], inF = w.Shape[1];
            var g = NnUtil.Dense(grad);
            if (pre != null)
            {
                var gg = Tensor.Empty(pre.Shape);
                Activations.GeluBackward(pre.AsSpan(), NnUtil.Span(g), gg.AsSpan());
                g = gg;
            }
            var gs = NnUtil.Span(g);
            Tensor? dx = null, dw = null, db = null;
            if (x.RequiresGrad)
            {
                dx = Tensor.Empty(x.Shape);
                Gemm.Sgemm(false, false, m, inF, outF, 1f, gs, outF, NnUtil.Span(wd!), inF, 0f, dx.AsSpan(), inF);
            }
            if (w.RequiresGrad)
            {
                dw = Tensor.Empty(w.Shape);
                if (m == 0) dw.AsSpan().Clear();
                else Gemm.Sgemm(true, false, outF, inF, m, 1f, gs, outF, NnUtil.Span(xd!), inF, 0f, dw.AsSpan(), inF);
            }
            if (hasBias && Inputs[2].RequiresGrad)
            {
                db = Tensor.Zeros(outF);
                var d = db.AsSpan();
                for (int r = 0; r < m; r++) System.Numerics.Tensors.TensorPrimitives.Add(d, gs.Slice(r * outF, outF), d);
            }
            return hasBias ? [dx, dw, db] : [dx, dw];
        }

        public override void Release() { xd = null; wd = null; pre = null; }
    }
}
