using VitSharp.Kernels;

namespace VitSharp.Tests.Kernels;

/// <summary>The training-path GEMM epilogues against the activation kernels, on every SIMD level.</summary>
[Collection("NnGlobalState")] // Cpu.With and the GELU table switch are process-wide
public unsafe class EpilogueTests
{
    [Theory]
    [InlineData(SimdLevel.Vector512, false)]
    [InlineData(SimdLevel.Vector256, false)]
    [InlineData(SimdLevel.Scalar, false)]
    [InlineData(SimdLevel.Vector512, true)]
    [InlineData(SimdLevel.Scalar, true)]
    public void Gelu_and_grad_epilogue_matches_the_activation_kernels(SimdLevel level, bool tanh)
    {
        if (level > Cpu.Detected) return;
        var rnd = new Random(7);
        int n = 37;
        var x = new float[n];
        for (int i = 0; i < n; i++) x[i] = (float)(rnd.NextDouble() * 10 - 5);
        var seg = (float[])x.Clone();
        var gelu = new float[n];
        Cpu.With(level, () =>
        {
            fixed (float* g = gelu) new GeluAndGradEpilogue(g, n, tanh).Apply(0, 0, seg);
        });
        var expGelu = new float[n];
        var expGrad = new float[n];
        var ones = Enumerable.Repeat(1f, n).ToArray();
        if (tanh) { Activations.GeluTanh(x, expGelu); Activations.GeluTanhBackward(x, ones, expGrad); }
        else { Activations.Gelu(x, expGelu); Activations.GeluBackward(x, ones, expGrad); }
        for (int i = 0; i < n; i++)
        {
            Assert.Equal(expGelu[i], gelu[i], 5);
            Assert.Equal(expGrad[i], seg[i], 5);
        }
        var f = new float[n];
        for (int i = 0; i < n; i++) f[i] = i - 3;
        var m = (float[])x.Clone();
        Cpu.With(level, () =>
        {
            fixed (float* pf = f) new MulEpilogue(pf, n).Apply(0, 0, m);
        });
        for (int i = 0; i < n; i++) Assert.Equal(x[i] * f[i], m[i]);
    }
}
