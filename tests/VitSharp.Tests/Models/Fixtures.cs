using System.Buffers.Binary;
using System.Text;
using System.Text.Json;
using VitSharp.Models;
using VitSharp.Tensors;

namespace VitSharp.Tests.Models;

/// <summary>Reads the model parity fixtures (tests/fixtures/models, made by scripts/make_model_fixtures.py).</summary>
internal static class Fixtures
{
    public static string Dir => Path.Combine(AppContext.BaseDirectory, "fixtures", "models");

    public static string PathOf(string file) => Path.Combine(Dir, file);

    public sealed record Case(string Name, VitConfig Config, Dictionary<string, string> Files, string Io,
        List<(string Key, int[] Shape)> StateDict, int[] Grid);

    private static readonly Lazy<Dictionary<string, Case>> All = new(Load);

    public static Case Get(string name) => All.Value[name];

    public static IEnumerable<string> Names => All.Value.Keys;

    private static Dictionary<string, Case> Load()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(PathOf("cases.json")));
        var r = new Dictionary<string, Case>();
        foreach (var c in doc.RootElement.GetProperty("cases").EnumerateArray())
        {
            var name = c.GetProperty("name").GetString()!;
            var cfg = VitConfig.FromJson(c.GetProperty("config").GetRawText());
            var files = c.GetProperty("files").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString()!);
            var sd = c.GetProperty("state_dict").EnumerateArray()
                .Select(e => (e[0].GetString()!, e[1].EnumerateArray().Select(x => x.GetInt32()).ToArray())).ToList();
            var grid = c.GetProperty("grid").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            r[name] = new Case(name, cfg, files, c.GetProperty("io").GetString()!, sd, grid);
        }
        return r;
    }

    /// <summary>Minimal F32 safetensors reader for fixtures (the library's reader lives in Checkpoints/).</summary>
    public static Dictionary<string, Tensor> ReadSafetensors(string file)
    {
        var bytes = File.ReadAllBytes(PathOf(file));
        long n = BinaryPrimitives.ReadInt64LittleEndian(bytes);
        using var doc = JsonDocument.Parse(Encoding.UTF8.GetString(bytes, 8, (int)n));
        var r = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        int start = 8 + (int)n;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.Name == "__metadata__") continue;
            if (p.Value.GetProperty("dtype").GetString() != "F32") throw new InvalidDataException($"{file}: {p.Name} is not F32");
            var shape = p.Value.GetProperty("shape").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var off = p.Value.GetProperty("data_offsets").EnumerateArray().Select(x => x.GetInt32()).ToArray();
            var data = new float[(off[1] - off[0]) / 4];
            Buffer.BlockCopy(bytes, start + off[0], data, 0, off[1] - off[0]);
            if (!BitConverter.IsLittleEndian) throw new PlatformNotSupportedException();
            r[p.Name] = Tensor.FromArray(data, shape);
        }
        return r;
    }

    public static float MaxAbsDiff(Tensor a, Tensor b)
    {
        Assert.Equal(a.Shape, b.Shape);
        var x = a.ToArray();
        var y = b.ToArray();
        float m = 0;
        for (int i = 0; i < x.Length; i++) m = Math.Max(m, Math.Abs(x[i] - y[i]));
        return m;
    }
}
