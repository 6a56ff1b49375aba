using VitSharp.Kernels;
using VitSharp.Tensors;
using VitSharp.Tests.Functional;

namespace VitSharp.Tests.Kernels;

// Forces SIMD levels (a process-wide setting): runs in the non-parallel collection so it cannot disturb
// bit-exact tests elsewhere.
[Collection("NnGlobalState")]
public class NnActivationTests
{
    [Fact]
    public void Erf_DenseSweep_RelativeErrorBelow1e6_AllLevels()
    {
        // Dense sweep over [-6, 6] plus tiny magnitudes; every SIMD path (vector bodies and scalar tails).
        var xs = new List<float>();
        for (int i = -600000; i <= 600000; i += 7) xs.Add(i * 1e-5f);
        for (int e = -38; e < 0; e++) { xs.Add(MathF.Pow(10, e)); xs.Add(-3.3f * MathF.Pow(10, e)); }
        xs.AddRange([0f, 1f, -1f, 0.99999994f, 1.0000001f, 3.9f, 4f, 10f, -100f, float.MaxValue]);
        var x = xs.ToArray();
        var refs = x.Select(v => NnTestUtil.ErfRef(v)).ToArray();
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[x.Length];
            Erf.Apply(x, y);
            double worst = 0;
            for (int i = 0; i < x.Length; i++)
            {
                double r = refs[i];
                double err = r == 0 ? Math.Abs(y[i]) : Math.Abs(y[i] - r) / Math.Abs(r);
                worst = Math.Max(worst, err);
                if (!(err <= 1e-6)) Assert.Fail($"{level}: erf({x[i]:G9}) = {y[i]:G9}, reference {r:G12}, rel err {err:G3}");
            }
            Assert.True(worst < 1e-6);
        });
    }

    [Fact]
    public void Erf_Scalar_MatchesReference()
    {
        Assert.Equal(0f, Erf.Scalar(0f));
        Assert.Equal(1f, Erf.Scalar(5f));
        Assert.Equal(-1f, Erf.Scalar(-5f));
        Assert.InRange(Erf.Scalar(0.5f), 0.5204998f, 0.5205000f);
    }

    private static double GeluRef(double x) => 0.5 * x * (1 + NnTestUtil.ErfRef(x / Math.Sqrt(2)));
    private static double GeluGradRef(double x) => 0.5 * (1 + NnTestUtil.ErfRef(x / Math.Sqrt(2))) + x * Math.Exp(-x * x / 2) / Math.Sqrt(2 * Math.PI);
    private static double GeluTanhRef(double x) => 0.5 * x * (1 + Math.Tanh(Math.Sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    private static double GeluTanhGradRef(double x)
    {
        double k = Math.Sqrt(2 / Math.PI), u = k * (x + 0.044715 * x * x * x), t = Math.Tanh(u);
        return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * 0.044715 * x * x);
    }

    private static float[] Sweep()
    {
        var rng = new Rng(7);
        var x = NnTestUtil.Rand(rng, 1031, -9, 9); // prime length: vector bodies + tails
        x[0] = 0; x[1] = -20; x[2] = 20; x[3] = 1e-6f; x[4] = -0.3f;
        return x;
    }

    private static void CheckUnary(Action<float[], float[]> kernel, Func<double, double> reference, double atol, double rtol)
    {
        var x = Sweep();
        var expected = x.Select(v => reference(v)).ToArray();
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[x.Length];
            kernel(x, y);
            NnTestUtil.Close(expected, y, atol, rtol, level.ToString());
        });
    }

    private static void CheckBinary(Action<float[], float[], float[]> kernel, Func<double, double> derivative, double atol, double rtol)
    {
        var x = Sweep();
        var g = NnTestUtil.Rand(new Rng(9), x.Length, -2, 2);
        var expected = x.Select((v, i) => derivative(v) * g[i]).ToArray();
        NnTestUtil.ForEachLevel(level =>
        {
            var dx = new float[x.Length];
            kernel(x, g, dx);
            NnTestUtil.Close(expected, dx, atol, rtol, level.ToString());
        });
    }

    [Fact] public void Gelu_Forward_MatchesDouble() => CheckUnary((x, y) => Activations.Gelu(x, y), GeluRef, 1e-7, 1e-6);
    [Fact] public void Gelu_Backward_MatchesDouble() => CheckBinary((x, g, d) => Activations.GeluBackward(x, g, d), GeluGradRef, 1e-6, 1e-5);

    /// <summary>On AVX-512 the exact GELU comes from a table of piecewise polynomials; this checks the formula it
    /// replaces there (the other levels' path) at every level too.</summary>
    [Fact]
    public void Gelu_WithoutTheTable_MatchesDouble()
    {
        VMath.UseGeluTable = false;
        try
        {
            Gelu_Forward_MatchesDouble();
            Gelu_Backward_MatchesDouble();
        }
        finally { VMath.UseGeluTable = true; }
    }
    [Fact] public void GeluTanh_Forward_MatchesDouble() => CheckUnary((x, y) => Activations.GeluTanh(x, y), GeluTanhRef, 1e-7, 1e-6);
    [Fact] public void GeluTanh_Backward_MatchesDouble() => CheckBinary((x, g, d) => Activations.GeluTanhBackward(x, g, d), GeluTanhGradRef, 1e-6, 1e-5);
    [Fact] public void Tanh_Forward_MatchesDouble() => CheckUnary((x, y) => Activations.Tanh(x, y), Math.Tanh, 1e-7, 1e-6);
    [Fact] public void Relu_Forward_MatchesDouble() => CheckUnary((x, y) => Activations.Relu(x, y), v => Math.Max(v, 0), 0, 0);
    [Fact] public void Relu_Backward_MatchesDouble() => CheckBinary((x, g, d) => Activations.ReluBackward(x, g, d), v => v > 0 ? 1 : 0, 0, 0);

    [Fact]
    public void Tanh_Backward_UsesOutput()
    {
        var x = Sweep();
        var y = x.Select(v => (float)Math.Tanh(v)).ToArray();
        var g = NnTestUtil.Rand(new Rng(3), x.Length, -2, 2);
        var expected = x.Select((v, i) => (1 - Math.Tanh(v) * Math.Tanh(v)) * g[i]).ToArray();
        NnTestUtil.ForEachLevel(level =>
        {
            var dx = new float[x.Length];
            Activations.TanhBackward(y, g, dx);
            NnTestUtil.Close(expected, dx, 1e-6, 1e-5, level.ToString());
        });
    }

    [Fact]
    public void NaN_PassesThroughActivations()
    {
        // The vector min/max use x86 semantics (the second operand wins on NaN); the kernels put constants first so
        // a NaN input still gives NaN, as in PyTorch, on every level and in every lane.
        var x = new float[35];
        for (int i = 0; i < x.Length; i++) x[i] = i % 3 == 0 ? float.NaN : i * 0.37f - 6f;
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[x.Length];
            foreach (var (name, f) in new (string, Action<float[], float[]>)[]
            {
                ("gelu", (a, b) => Activations.Gelu(a, b)), ("gelu_tanh", (a, b) => Activations.GeluTanh(a, b)),
                ("tanh", (a, b) => Activations.Tanh(a, b)), ("relu", (a, b) => Activations.Relu(a, b)), ("erf", (a, b) => Erf.Apply(a, b)),
            })
            {
                f(x, y);
                for (int i = 0; i < x.Length; i++) Assert.True(float.IsNaN(x[i]) == float.IsNaN(y[i]), $"{level} {name}({x[i]}) = {y[i]}");
            }
        });
    }

    [Fact]
    public void Exp_LargeAndSmallInputs()
    {
        var x = new float[] { 0, 1, -1, 88.5f, -87f, -100, float.NegativeInfinity, 10, -10, 50, -50, 0.5f, 2, 3, 4, 5, 6 };
        NnTestUtil.ForEachLevel(level =>
        {
            var y = new float[x.Length];
            Softmax.Forward(x, y, x.Length, 1, 1, log: false); // dim = 1: exp(0) = 1 for finite x
            for (int i = 0; i < x.Length; i++) Assert.Equal(float.IsFinite(x[i]) ? 1f : float.NaN, y[i]);
            for (int i = 0; i < x.Length; i++)
            {
                double e = Math.Exp(x[i]);
                float got = VMath.Exp(new V1(x[i])).V;
                if (e < 1e-37) Assert.True(got >= 0 && got < 1e-37, $"exp({x[i]}) = {got}");
                else Assert.True(Math.Abs(got - e) <= 3e-7 * e, $"exp({x[i]}) = {got}, want {e}");
            }
        });
    }
}
