using System.Globalization;
using TensorPrimitives = System.Numerics.Tensors.TensorPrimitives;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// Exponential moving average of model weights (timm ModelEmaV3): shadow = decay·shadow + (1 − decay)·param after
/// each optimiser step. With <c>warmup</c> the decay ramps as min(decay, (1 + n)/(10 + n)) so early averages
/// are not dominated by the random initialisation. Frozen parameters are copied, not averaged.
/// </summary>
public sealed class Ema
{
    private readonly IReadOnlyList<(string Name, Tensor Param)> source;
    private readonly List<(string Name, Tensor Shadow)> shadow;

    public Ema(IEnumerable<(string Name, Tensor Param)> parameters, double decay, bool warmup = false)
    {
        if (decay is < 0 or > 1) throw new VitException($"ema: decay {decay} is outside [0, 1]");
        source = [.. parameters];
        Decay = decay;
        Warmup = warmup;
        using var _ = TensorScope.Suspend();
        shadow = [.. source.Select(x => (x.Name, Tensor.FromSpan(x.Param.Contiguous().AsSpan(), x.Param.Shape)))];
    }

    public double Decay { get; }
    public bool Warmup { get; }

    /// <summary>Number of updates so far.</summary>
    public long Updates { get; private set; }

    /// <summary>The averaged weights, by parameter name (same order as the source).</summary>
    public IReadOnlyList<(string Name, Tensor Shadow)> Shadow => shadow;

    public double CurrentDecay => Warmup ? Math.Min(Decay, (1.0 + Updates) / (10.0 + Updates)) : Decay;

    public void Update()
    {
        float d = (float)CurrentDecay;
        for (int i = 0; i < source.Count; i++)
        {
            var p = source[i].Param.Contiguous().AsSpan();
            var s = shadow[i].Shadow.AsSpan();
            if (source[i].Param.RequiresGrad) TensorPrimitives.Lerp(p, s, d, s); // p + (s - p)·d = d·s + (1 − d)·p
            else p.CopyTo(s);
        }
        Updates++;
    }

    /// <summary>Copies the averaged weights into <paramref name="target"/> (matched by name; all must exist).</summary>
    public void CopyTo(IEnumerable<(string Name, Tensor Param)> target)
    {
        var byName = shadow.ToDictionary(x => x.Name, x => x.Shadow, StringComparer.Ordinal);
        foreach (var (name, p) in target)
        {
            if (!byName.TryGetValue(name, out var s)) throw new VitException($"ema: no averaged weight for '{name}'");
            p.CopyFrom(s);
        }
    }

    /// <summary>Named tensors ("ema.{name}") and metadata for a checkpoint.</summary>
    public (IReadOnlyList<(string Name, Tensor Value)> Tensors, Dictionary<string, string> Metadata) ExportState() =>
        ([.. shadow.Select(x => ("ema." + x.Name, x.Shadow))],
         new Dictionary<string, string> { ["ema.updates"] = Updates.ToString(CultureInfo.InvariantCulture), ["ema.decay"] = Decay.ToString("R", CultureInfo.InvariantCulture) });

    public void ImportState(IReadOnlyList<(string Name, Tensor Value)> tensors, IReadOnlyDictionary<string, string> metadata)
    {
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (n, t) in tensors) byName[n] = t;
        foreach (var (name, s) in shadow)
        {
            if (!byName.TryGetValue("ema." + name, out var t)) throw new VitException($"ema state: checkpoint lacks 'ema.{name}'");
            if (t.Numel != s.Numel) throw new VitException($"ema state: 'ema.{name}' has shape {t.ShapeString}, expected {s.ShapeString}");
            s.CopyFrom(t);
        }
        Updates = metadata.TryGetValue("ema.updates", out var u) ? long.Parse(u, CultureInfo.InvariantCulture) : 0;
    }
}
