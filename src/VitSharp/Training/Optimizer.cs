using System.Globalization;
using System.Text.Json;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// The saved state of an optimiser: its buffers as named tensors ("optimizer.{param}.{buffer}") plus small
/// string metadata (type, per-parameter step counts, group learning rates), ready for a checkpoint.
/// </summary>
public sealed record OptimizerState(IReadOnlyList<(string Name, Tensor Value)> Tensors, IReadOnlyDictionary<string, string> Metadata);

/// <summary>
/// Base of the optimisers: parameter groups, lazily created per-parameter state (created the first time a
/// parameter has a gradient, as torch does), zeroing of gradients and state export/import for exact resume.
/// A step reads <c>Param.Grad</c> directly and updates in place; it allocates nothing after the first step.
/// </summary>
public abstract class Optimizer
{
    public const string TensorPrefix = "optimizer.";

    /// <summary>Per-parameter state. Buffers are dense and live outside any tensor scope.</summary>
    protected sealed class ParamState
    {
        public long Step;
        public Tensor?[] Buffers = [];
    }

    private readonly Dictionary<Tensor, ParamState> state = new(ReferenceEqualityComparer.Instance);

    protected Optimizer(IReadOnlyList<ParamGroup> groups, double lr)
    {
        if (groups.Count == 0) throw new VitException("optimizer: no parameter groups");
        Groups = groups;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var seenT = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        foreach (var g in groups)
            foreach (var (name, p) in g.Params)
            {
                if (!seen.Add(name)) throw new VitException($"optimizer: parameter '{name}' appears twice");
                if (!seenT.Add(p)) throw new VitException($"optimizer: parameter '{name}' is the same tensor as another parameter");
                if (!p.IsContiguous) throw new VitException($"optimizer: parameter '{name}' of shape {p.ShapeString} is not contiguous");
            }
        SetLr(lr);
    }

    public IReadOnlyList<ParamGroup> Groups { get; }

    /// <summary>"sgd" or "adamw"; stored with the state so a resume cannot load the wrong kind.</summary>
    public abstract string Kind { get; }

    /// <summary>Names of the per-parameter buffers in export order.</summary>
    protected abstract string[] BufferNames { get; }

    /// <summary>Sets every group's learning rate to <paramref name="lr"/> × its <see cref="ParamGroup.LrScale"/>.</summary>
    public void SetLr(double lr)
    {
        for (int i = 0; i < Groups.Count; i++) Groups[i].Lr = lr * Groups[i].LrScale;
    }

    /// <summary>Every parameter of every group.</summary>
    public IEnumerable<(string Name, Tensor Param)> Parameters => Groups.SelectMany(g => g.Params);

    /// <summary>
    /// Clears gradients. By default they are zero-filled in place, so the next backward accumulates into the same
    /// memory (no allocation); with <paramref name="setToNull"/> they are dropped and that parameter is skipped by
    /// the next step unless backward reaches it.
    /// </summary>
    public void ZeroGrad(bool setToNull = false)
    {
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var ps = Groups[gi].Params;
            for (int pi = 0; pi < ps.Count; pi++)
            {
                var p = ps[pi].Param;
                if (p.Grad == null) continue;
                if (setToNull) p.Grad = null;
                else p.Grad.Fill_(0f);
            }
        }
    }

    /// <summary>Applies one update to every parameter that requires grad and has a gradient.</summary>
    public void Step()
    {
        // Index loops: enumerating the IReadOnlyList interfaces would box an enumerator every step.
        for (int gi = 0; gi < Groups.Count; gi++)
        {
            var g = Groups[gi];
            for (int pi = 0; pi < g.Params.Count; pi++)
            {
                var (name, p) = g.Params[pi];
                if (!p.RequiresGrad || p.Grad == null) continue;
                var grad = p.Grad;
                if (!Tensor.SameShape(grad.Shape, p.Shape))
                    throw new VitException($"optimizer: gradient of '{name}' has shape {grad.ShapeString}, parameter {p.ShapeString}");
                if (!grad.IsContiguous) p.Grad = grad = grad.Contiguous();
                if (!state.TryGetValue(p, out var st))
                {
                    st = new ParamState { Buffers = new Tensor?[BufferNames.Length] };
                    state[p] = st;
                }
                st.Step++;
                Update(g, name, p, grad, st);
            }
        }
    }

    /// <summary>Updates one parameter in place; <paramref name="st"/>.Step was already incremented.</summary>
    protected abstract void Update(ParamGroup group, string name, Tensor param, Tensor grad, ParamState st);

    /// <summary>A zeroed (or copied) dense buffer shaped like <paramref name="like"/>, owned by the GC (outlives scopes).</summary>
    protected static Tensor NewBuffer(Tensor like, Tensor? copyFrom = null)
    {
        using var _ = TensorScope.Suspend();
        var t = Tensor.Zeros(like.Shape);
        if (copyFrom != null) copyFrom.CopyTo(t.AsSpan());
        return t;
    }

    /// <summary>The step count of a parameter (0 before its first update).</summary>
    public long StepOf(Tensor param) => state.TryGetValue(param, out var st) ? st.Step : 0;

    /// <summary>A state buffer of a parameter by name (e.g. "exp_avg"), or null when not created yet.</summary>
    public Tensor? BufferOf(Tensor param, string buffer)
    {
        int i = Array.IndexOf(BufferNames, buffer);
        if (i < 0) throw new ArgumentException($"optimizer {Kind} has no buffer '{buffer}'", nameof(buffer));
        return state.TryGetValue(param, out var st) ? st.Buffers[i] : null;
    }

    /// <summary>Hyper-parameters that a resumed run must match (written into the metadata for information).</summary>
    protected abstract Dictionary<string, string> Options();

    public OptimizerState ExportState()
    {
        var tensors = new List<(string, Tensor)>();
        var steps = new SortedDictionary<string, long>(StringComparer.Ordinal);
        foreach (var (name, p) in Parameters)
        {
            if (!state.TryGetValue(p, out var st)) continue;
            steps[name] = st.Step;
            for (int i = 0; i < BufferNames.Length; i++)
                if (st.Buffers[i] is { } b) tensors.Add((TensorPrefix + name + "." + BufferNames[i], b));
        }
        var groups = Groups.Select(g => new Dictionary<string, string>
        {
            ["name"] = g.Name,
            ["lr"] = g.Lr.ToString("R", CultureInfo.InvariantCulture),
            ["weight_decay"] = g.WeightDecay.ToString("R", CultureInfo.InvariantCulture),
            ["lr_scale"] = g.LrScale.ToString("R", CultureInfo.InvariantCulture),
        }).ToList();
        var meta = new Dictionary<string, string>
        {
            ["optimizer.type"] = Kind,
            ["optimizer.steps"] = JsonSerializer.Serialize(steps),
            ["optimizer.groups"] = JsonSerializer.Serialize(groups),
            ["optimizer.options"] = JsonSerializer.Serialize(Options()),
        };
        return new OptimizerState(tensors, meta);
    }

    /// <summary>
    /// Restores buffers and step counts saved by <see cref="ExportState"/> (copied into fresh buffers; the
    /// given tensors are not kept). Group learning rates are restored too; the caller's schedule overrides them
    /// at the next <see cref="SetLr"/>.
    /// </summary>
    public void ImportState(OptimizerState saved)
    {
        if (!saved.Metadata.TryGetValue("optimizer.type", out var kind) || kind != Kind)
            throw new VitException($"optimizer state: saved optimizer is '{kind ?? "missing"}', this run uses '{Kind}'");
        var steps = saved.Metadata.TryGetValue("optimizer.steps", out var sj)
            ? JsonSerializer.Deserialize<Dictionary<string, long>>(sj) ?? []
            : [];
        var byName = new Dictionary<string, Tensor>(StringComparer.Ordinal);
        foreach (var (n, t) in saved.Tensors) byName[n] = t;
        var paramsByName = Parameters.ToDictionary(x => x.Name, x => x.Param, StringComparer.Ordinal);
        foreach (var name in steps.Keys)
            if (!paramsByName.ContainsKey(name))
                throw new VitException($"optimizer state: saved state for parameter '{name}' which this model does not have (or is frozen)");
        state.Clear();
        foreach (var (name, p) in paramsByName)
        {
            if (!steps.TryGetValue(name, out var step)) continue;
            var st = new ParamState { Step = step, Buffers = new Tensor?[BufferNames.Length] };
            for (int i = 0; i < BufferNames.Length; i++)
            {
                string key = TensorPrefix + name + "." + BufferNames[i];
                if (!byName.TryGetValue(key, out var src)) continue;
                if (src.Numel != p.Numel)
                    throw new VitException($"optimizer state: '{key}' has shape {src.ShapeString}, parameter '{name}' has {p.ShapeString}");
                st.Buffers[i] = NewBuffer(p, src);
            }
            state[p] = st;
        }
        if (saved.Metadata.TryGetValue("optimizer.groups", out var gj))
        {
            var groups = JsonSerializer.Deserialize<List<Dictionary<string, string>>>(gj) ?? [];
            foreach (var g in groups)
            {
                var target = Groups.FirstOrDefault(x => x.Name == g.GetValueOrDefault("name"));
                if (target == null) continue;
                if (g.TryGetValue("lr", out var lr)) target.Lr = double.Parse(lr, CultureInfo.InvariantCulture);
            }
        }
    }
}
