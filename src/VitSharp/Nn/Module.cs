using VitSharp.Autograd;
using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>What <see cref="Module.LoadStateDict"/> did: keys the model has that the source lacked, keys the
/// source has that the model lacks, and keys present in both whose shapes differ (left untouched).</summary>
public sealed record StateDictLoadReport(
    IReadOnlyList<string> Missing,
    IReadOnlyList<string> Unexpected,
    IReadOnlyList<ShapeMismatch> Mismatched,
    IReadOnlyList<string> Loaded)
{
    public bool IsClean => Missing.Count == 0 && Unexpected.Count == 0 && Mismatched.Count == 0;
}

public sealed record ShapeMismatch(string Key, int[] ModelShape, int[] SourceShape)
{
    public override string ToString() =>
        $"{Key}: model {Tensor.ShapeToString(ModelShape)} vs checkpoint {Tensor.ShapeToString(SourceShape)}";
}

/// <summary>
/// Base of every layer, like torch.nn.Module: parameters, buffers and child modules are registered in
/// declaration order and named with PyTorch's dotted paths (own parameters, then own buffers, then children),
/// so state dicts line up key-for-key with timm's.
/// </summary>
public abstract class Module
{
    private readonly List<(string Name, Parameter Param)> parameters = [];
    private readonly List<(string Name, Tensor Buffer, bool Persistent)> buffers = [];
    private readonly List<(string Name, Module Child)> children = [];

    /// <summary>True in training mode (dropout/drop-path active), false in evaluation mode.</summary>
    public bool Training { get; private set; } = true;

    /// <summary>Runs the module on one input.</summary>
    public abstract Tensor Forward(Tensor x);

    // ------------------------------------------------------------------ registration

    protected Parameter RegisterParameter(string name, Parameter p)
    {
        CheckName(name);
        p.Value.Name ??= name;
        int i = parameters.FindIndex(e => e.Name == name);
        if (i >= 0) parameters[i] = (name, p);
        else parameters.Add((name, p));
        return p;
    }

    protected Tensor RegisterBuffer(string name, Tensor buffer, bool persistent = true)
    {
        CheckName(name);
        int i = buffers.FindIndex(e => e.Name == name);
        if (i >= 0) buffers[i] = (name, buffer, persistent);
        else buffers.Add((name, buffer, persistent));
        return buffer;
    }

    /// <summary>Registers (or replaces, keeping its position) a child module.</summary>
    protected T RegisterModule<T>(string name, T module) where T : Module
    {
        CheckName(name);
        int i = children.FindIndex(e => e.Name == name);
        if (i >= 0) children[i] = (name, module);
        else children.Add((name, module));
        if (!Training) module.Eval();
        return module;
    }

    private static void CheckName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Contains('.', StringComparison.Ordinal))
            throw new ArgumentException($"module member name '{name}' must be non-empty and contain no '.'");
    }

    // ------------------------------------------------------------------ traversal

    public IEnumerable<(string Name, Module Child)> NamedChildren() => children;

    /// <summary>This module and every descendant, with dotted names ("" for this one).</summary>
    public IEnumerable<(string Name, Module Module)> NamedModules(string prefix = "")
    {
        yield return (prefix, this);
        foreach (var (name, child) in children)
            foreach (var m in child.NamedModules(Join(prefix, name)))
                yield return m;
    }

    public IEnumerable<(string Name, Parameter Param)> NamedParameterObjects(string prefix = "")
    {
        foreach (var (name, p) in parameters) yield return (Join(prefix, name), p);
        foreach (var (name, child) in children)
            foreach (var e in child.NamedParameterObjects(Join(prefix, name)))
                yield return e;
    }

    /// <summary>Every parameter tensor with its PyTorch-style dotted name.</summary>
    public IEnumerable<(string Name, Tensor Param)> NamedParameters()
    {
        foreach (var (name, p) in NamedParameterObjects()) yield return (name, p.Value);
    }

    public IEnumerable<Tensor> Parameters()
    {
        foreach (var (_, p) in NamedParameterObjects()) yield return p.Value;
    }

    public IEnumerable<(string Name, Tensor Buffer)> NamedBuffers(string prefix = "", bool persistentOnly = false)
    {
        foreach (var (name, b, persistent) in buffers)
            if (persistent || !persistentOnly) yield return (Join(prefix, name), b);
        foreach (var (name, child) in children)
            foreach (var e in child.NamedBuffers(Join(prefix, name), persistentOnly))
                yield return e;
    }

    private static string Join(string prefix, string name) => prefix.Length == 0 ? name : prefix + "." + name;

    /// <summary>Total number of parameter elements (optionally only trainable ones).</summary>
    public long ParameterCount(bool trainableOnly = false)
    {
        long n = 0;
        foreach (var (_, p) in NamedParameterObjects())
            if (!trainableOnly || p.RequiresGrad) n += p.Value.Numel;
        return n;
    }

    // ------------------------------------------------------------------ modes and gradients

    public Module Train(bool mode = true)
    {
        Training = mode;
        foreach (var (_, c) in children) c.Train(mode);
        return this;
    }

    public Module Eval() => Train(false);

    public void ZeroGrad()
    {
        foreach (var p in Parameters()) p.Grad = null;
    }

    /// <summary>Sets RequiresGrad = false on every parameter whose name matches <paramref name="freeze"/>,
    /// and true on the others. Returns the number of frozen parameters.</summary>
    public int Freeze(Func<string, bool> freeze)
    {
        int n = 0;
        foreach (var (name, p) in NamedParameterObjects())
        {
            bool f = freeze(name);
            p.RequiresGrad = !f;
            if (f) n++;
        }
        return n;
    }

    /// <summary>Gives every stochastic layer (dropout, drop-path) below this module the same generator, so a
    /// seeded run is reproducible (they draw in forward order).</summary>
    public void SetRng(Rng rng)
    {
        foreach (var (_, m) in NamedModules())
            if (m is IStochastic s) s.Generator = rng;
    }

    // ------------------------------------------------------------------ state dict

    /// <summary>Parameters and persistent buffers by dotted name, in registration order (the live tensors).</summary>
    public IReadOnlyDictionary<string, Tensor> StateDict()
    {
        var d = new OrderedStateDict();
        AddState(d, "");
        return d;
    }

    private void AddState(OrderedStateDict d, string prefix)
    {
        foreach (var (name, p) in parameters) d.Add(Join(prefix, name), p.Value);
        foreach (var (name, b, persistent) in buffers) if (persistent) d.Add(Join(prefix, name), b);
        foreach (var (name, c) in children) c.AddState(d, Join(prefix, name));
    }

    /// <summary>
    /// Copies matching tensors into this module's parameters/buffers (in place, so optimisers keep working).
    /// Strict: any missing, unexpected or mismatched key throws a <see cref="VitException"/>; lenient: those are
    /// only reported and mismatched tensors are left as they are.
    /// </summary>
    public StateDictLoadReport LoadStateDict(IReadOnlyDictionary<string, Tensor> source, bool strict = true)
    {
        var own = StateDict();
        var missing = new List<string>();
        var mismatched = new List<ShapeMismatch>();
        var loaded = new List<string>();
        foreach (var (key, dst) in own)
        {
            if (!source.TryGetValue(key, out var src)) { missing.Add(key); continue; }
            if (!src.Shape.AsSpan().SequenceEqual(dst.Shape))
            {
                if (strict)
                    throw new VitException($"load_state_dict: shape mismatch for '{key}': model {dst.ShapeString}, checkpoint {src.ShapeString}");
                mismatched.Add(new ShapeMismatch(key, (int[])dst.Shape.Clone(), (int[])src.Shape.Clone()));
                continue;
            }
            loaded.Add(key);
        }
        var unexpected = source.Keys.Where(k => !own.ContainsKey(k)).ToList();
        if (strict && missing.Count > 0)
            throw new VitException($"load_state_dict: missing key{(missing.Count > 1 ? "s" : "")} {string.Join(", ", missing.Take(8))}{(missing.Count > 8 ? $" (+{missing.Count - 8} more)" : "")}");
        if (strict && unexpected.Count > 0)
            throw new VitException($"load_state_dict: unexpected key{(unexpected.Count > 1 ? "s" : "")} {string.Join(", ", unexpected.Take(8))}{(unexpected.Count > 8 ? $" (+{unexpected.Count - 8} more)" : "")}");
        using (Graph.NoGrad())
            foreach (var key in loaded) own[key].CopyFrom(source[key]);
        return new StateDictLoadReport(missing, unexpected, mismatched, loaded);
    }

    /// <summary>An insertion-ordered name → tensor map (Dictionary alone does not promise order).</summary>
    private sealed class OrderedStateDict : IReadOnlyDictionary<string, Tensor>
    {
        private readonly List<string> keys = [];
        private readonly Dictionary<string, Tensor> map = new(StringComparer.Ordinal);

        public void Add(string key, Tensor t)
        {
            if (map.TryAdd(key, t)) keys.Add(key);
            else throw new InvalidOperationException($"duplicate state-dict key '{key}'");
        }

        public Tensor this[string key] => map[key];
        public IEnumerable<string> Keys => keys;
        public IEnumerable<Tensor> Values => keys.Select(k => map[k]);
        public int Count => keys.Count;
        public bool ContainsKey(string key) => map.ContainsKey(key);
        public bool TryGetValue(string key, [System.Diagnostics.CodeAnalysis.MaybeNullWhen(false)] out Tensor value) => map.TryGetValue(key, out value);
        public IEnumerator<KeyValuePair<string, Tensor>> GetEnumerator() => keys.Select(k => new KeyValuePair<string, Tensor>(k, map[k])).GetEnumerator();
        System.Collections.IEnumerator System.Collections.IEnumerable.GetEnumerator() => GetEnumerator();
    }
}

/// <summary>A layer that draws random numbers in training (dropout, drop-path).</summary>
public interface IStochastic
{
    Rng? Generator { get; set; }
}
