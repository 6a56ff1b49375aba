using System.Text.Json;
using VitSharp.Autograd;
using VitSharp.Kernels;
using VitSharp.Tensors;

namespace VitSharp.Tests.Functional;

/// <summary>Helpers shared by the NN-kernel and functional tests.</summary>
public static class NnTestUtil
{
    /// <summary>Every SIMD level this machine can run, widest first.</summary>
    public static IEnumerable<SimdLevel> Levels()
    {
        for (var l = Cpu.Detected; l >= SimdLevel.Scalar; l--) yield return l;
    }

    /// <summary>Runs <paramref name="body"/> once per SIMD level with kernels forced to it.</summary>
    public static void ForEachLevel(Action<SimdLevel> body)
    {
        foreach (var l in Levels()) Cpu.With(l, () => body(l));
    }

    public static float[] Rand(Rng rng, int n, float lo = -1, float hi = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = lo + rng.NextFloat() * (hi - lo);
        return a;
    }

    public static Tensor RandT(Rng rng, float lo, float hi, params int[] shape) => Tensor.FromArray(Rand(rng, Tensor.CheckedNumel(shape), lo, hi), shape);

    public static Tensor Leaf(Rng rng, params int[] shape)
    {
        var t = RandT(rng, -1, 1, shape);
        t.RequiresGrad = true;
        return t;
    }

    public static void Close(ReadOnlySpan<double> expected, ReadOnlySpan<float> actual, double atol, double rtol = 0, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs(expected[i] - actual[i]);
            if (!(d <= atol + rtol * Math.Abs(expected[i])))
                Assert.Fail($"{what} element {i}: expected {expected[i]:G9}, got {actual[i]:G9} (diff {d:G3})");
        }
    }

    public static void Close(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, double atol, double rtol = 0, string what = "")
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            double d = Math.Abs((double)expected[i] - actual[i]);
            if (!(d <= atol + rtol * Math.Abs(expected[i])) && !(float.IsNaN(expected[i]) && float.IsNaN(actual[i])) && expected[i] != actual[i])
                Assert.Fail($"{what} element {i}: expected {expected[i]:G9}, got {actual[i]:G9} (diff {d:G3})");
        }
    }

    /// <summary>The shared finite-difference check (kept under this name for the NN tests).</summary>
    public static void GradCheck(Func<Tensor[], Tensor> f, Tensor[] inputs, float eps = 1e-2f, float atol = 2e-3f, float rtol = 2e-2f, int seed = 1234)
        => global::VitSharp.Tests.GradCheck.Check(f, inputs, eps, atol, rtol, seed);


    /// <summary>erf in double: e^(-x²)·Σ 2ⁿx^(2n+1)/(2n+1)!! (all terms positive, no cancellation).</summary>
    public static double ErfRef(double x)
    {
        double ax = Math.Abs(x);
        if (ax > 7) return Math.Sign(x);
        double term = ax, sum = ax, x2 = ax * ax;
        for (int n = 1; n < 400; n++)
        {
            term *= 2 * x2 / (2 * n + 1);
            sum += term;
            if (term < sum * 1e-17) break;
        }
        return Math.Sign(x) * 2 / Math.Sqrt(Math.PI) * Math.Exp(-x2) * sum;
    }
}

/// <summary>Reads PyTorch reference arrays written by scripts/make_functional_fixtures.py.</summary>
public sealed class FunctionalFixtures
{
    private readonly string dir;
    private readonly JsonElement manifest;

    private FunctionalFixtures(string dir, JsonElement manifest) { this.dir = dir; this.manifest = manifest; }

    public static FunctionalFixtures Load()
    {
        string dir = Path.Combine(AppContext.BaseDirectory, "fixtures", "functional");
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(dir, "manifest.json")));
        return new FunctionalFixtures(dir, doc.RootElement.Clone());
    }

    public JsonElement Case(string name) => manifest.GetProperty(name);

    public IEnumerable<string> CaseNames() => manifest.EnumerateObject().Select(p => p.Name).ToList();

    /// <summary>Array <paramref name="array"/> of case <paramref name="name"/> as a tensor (float32 little-endian raw file).</summary>
    public Tensor Get(string name, string array)
    {
        var shape = manifest.GetProperty(name).GetProperty("arrays").GetProperty(array).EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var bytes = File.ReadAllBytes(Path.Combine(dir, $"{name}.{array}.bin"));
        var data = new float[bytes.Length / 4];
        for (int i = 0; i < data.Length; i++) data[i] = BitConverter.ToSingle(bytes, i * 4);
        return Tensor.FromArray(data, shape);
    }
}
