using VitSharp.Checkpoints;
using VitSharp.Tensors;

namespace VitSharp.Tests.Checkpoints;

internal static class Fx
{
    public static string Path(params string[] parts) =>
        System.IO.Path.Combine([AppContext.BaseDirectory, "fixtures", "checkpoints", .. parts]);

    public static string TempFile(string ext)
    {
        var dir = System.IO.Path.Combine(System.IO.Path.GetTempPath(), "vitsharp-ckpt-tests");
        Directory.CreateDirectory(dir);
        return System.IO.Path.Combine(dir, Guid.NewGuid().ToString("N") + ext);
    }

    /// <summary>The logical array every npy variant holds: arange(24).reshape(2,3,4) * 0.5 - 3.</summary>
    public static float[] Expected24 => Enumerable.Range(0, 24).Select(i => i * 0.5f - 3f).ToArray();

    public static Dictionary<string, Tensor> Dict(IEnumerable<KeyValuePair<string, Tensor>> t) =>
        t.ToDictionary(kv => kv.Key, kv => kv.Value, StringComparer.Ordinal);

    public static void AssertSameTensors(IEnumerable<KeyValuePair<string, Tensor>> expected, IEnumerable<KeyValuePair<string, Tensor>> actual, float tol = 0)
    {
        var e = Dict(expected);
        var a = Dict(actual);
        Assert.Equal(e.Keys.OrderBy(k => k, StringComparer.Ordinal), a.Keys.OrderBy(k => k, StringComparer.Ordinal));
        foreach (var (k, t) in e)
        {
            Assert.True(t.Shape.SequenceEqual(a[k].Shape), $"{k}: shape {t.ShapeString} vs {a[k].ShapeString}");
            var x = t.ToArray();
            var y = a[k].ToArray();
            for (int i = 0; i < x.Length; i++)
                Assert.True(Math.Abs(x[i] - y[i]) <= tol, $"{k}[{i}]: {x[i]} vs {y[i]}");
        }
    }
}
