using System.Text.Json;

namespace VitSharp.Tests.Training;

/// <summary>Loads the torch-recorded fixtures written by scripts/make_training_fixtures.py.</summary>
internal static class Fixtures
{
    private static readonly Lazy<JsonDocument> Optim = new(() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "fixtures", "training", "optim.json"))));

    public static JsonElement OptimRoot => Optim.Value.RootElement;

    public static float[] Floats(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetSingle())];

    public static int[] Ints(JsonElement e) => [.. e.EnumerateArray().Select(x => x.GetInt32())];

    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float atol, float rtol, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        for (int i = 0; i < expected.Length; i++)
        {
            float tol = atol + rtol * MathF.Abs(expected[i]);
            if (!(MathF.Abs(expected[i] - actual[i]) <= tol))
                Assert.Fail($"{what}[{i}]: expected {expected[i]:R}, got {actual[i]:R} (tolerance {tol:G3})");
        }
    }
}
