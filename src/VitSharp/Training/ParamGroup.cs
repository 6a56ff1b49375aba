using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// A set of parameters sharing a learning rate and weight decay (torch.optim's param_groups). The optimiser's
/// learning rate is set through <see cref="Optimizer.SetLr"/>, which applies each group's <see cref="LrScale"/>.
/// </summary>
public sealed class ParamGroup
{
    public ParamGroup(string name, IEnumerable<(string Name, Tensor Param)> parameters, double weightDecay, double lrScale = 1.0)
    {
        Name = name;
        Params = [.. parameters];
        WeightDecay = weightDecay;
        LrScale = lrScale;
    }

    public string Name { get; }

    public IReadOnlyList<(string Name, Tensor Param)> Params { get; }

    /// <summary>Learning rate used by the next <see cref="Optimizer.Step"/>.</summary>
    public double Lr { get; set; }

    public double WeightDecay { get; set; }

    /// <summary>Multiplier applied to the schedule's learning rate for this group (1 by default).</summary>
    public double LrScale { get; set; }
}

/// <summary>Builds the usual two groups: weights with decay, and biases / norms / tokens without.</summary>
public static class ParamGroups
{
    /// <summary>Names (or last name segments) that never get weight decay, as in timm's no_weight_decay().</summary>
    public static readonly IReadOnlySet<string> DefaultNoDecayNames = new HashSet<string>(StringComparer.Ordinal)
    {
        "pos_embed", "cls_token", "dist_token",
    };

    /// <summary>True when <paramref name="name"/> must not be decayed: rank ≤ 1 (biases, norm scales) or a no-decay name.</summary>
    public static bool IsNoDecay(string name, Tensor param, IReadOnlySet<string>? noDecayNames = null)
    {
        if (param.Rank <= 1) return true;
        noDecayNames ??= DefaultNoDecayNames;
        if (noDecayNames.Contains(name)) return true;
        int dot = name.LastIndexOf('.');
        return dot >= 0 && noDecayNames.Contains(name[(dot + 1)..]);
    }

    /// <summary>
    /// Splits <paramref name="parameters"/> into a "decay" group (weight decay <paramref name="weightDecay"/>) and a
    /// "no_decay" group (0). Parameters that do not require grad are left out; empty groups are dropped.
    /// </summary>
    public static IReadOnlyList<ParamGroup> WithNoDecay(IEnumerable<(string Name, Tensor Param)> parameters, double weightDecay,
        IReadOnlySet<string>? noDecayNames = null, bool includeFrozen = false)
    {
        var decay = new List<(string, Tensor)>();
        var noDecay = new List<(string, Tensor)>();
        foreach (var (name, p) in parameters)
        {
            if (!includeFrozen && !p.RequiresGrad) continue;
            (IsNoDecay(name, p, noDecayNames) ? noDecay : decay).Add((name, p));
        }
        var groups = new List<ParamGroup>();
        if (decay.Count > 0 || noDecay.Count == 0) groups.Add(new ParamGroup("decay", decay, weightDecay));
        if (noDecay.Count > 0) groups.Add(new ParamGroup("no_decay", noDecay, 0.0));
        return groups;
    }

    /// <summary>One group holding every parameter with the same weight decay.</summary>
    public static IReadOnlyList<ParamGroup> Single(IEnumerable<(string Name, Tensor Param)> parameters, double weightDecay) =>
        [new ParamGroup("all", parameters, weightDecay)];
}
