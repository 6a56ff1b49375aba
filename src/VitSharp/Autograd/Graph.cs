using VitSharp.Tensors;

namespace VitSharp.Autograd;

/// <summary>
/// One recorded operation: knows its inputs and how to turn the gradient of its output into gradients of
/// its inputs (a vector-Jacobian product). Saved intermediates are dropped in <see cref="Release"/>.
/// </summary>
public abstract class GradNode
{
    protected GradNode(params Tensor[] inputs) => Inputs = inputs;

    /// <summary>The tensors this op read; gradients are returned in the same order.</summary>
    public Tensor[] Inputs { get; }

    public virtual string Name => GetType().Name.Replace("Node", "", StringComparison.Ordinal);

    internal bool Released;

    /// <summary>
    /// Given dL/d(output) (same shape as the output; not necessarily contiguous), returns dL/d(input) for each
    /// input, or null for inputs that need none. Each returned gradient must have its input's shape.
    /// The engine never mutates the returned tensors or <paramref name="grad"/>.
    /// </summary>
    public abstract Tensor?[] Backward(Tensor grad);

    /// <summary>Frees saved tensors once backward has run (unless the graph is retained).</summary>
    public virtual void Release() { }
}

/// <summary>Gradient passes through unchanged (clone, contiguous copy).</summary>
internal sealed class IdentityNode(Tensor input) : GradNode(input)
{
    public override Tensor?[] Backward(Tensor grad) => [grad];
}

/// <summary>Disables recording while alive. Use: <c>using var _ = Graph.NoGrad();</c></summary>
public readonly struct NoGradScope : IDisposable
{
    public void Dispose() => Graph.NoGradDepth--;
}

/// <summary>The reverse-mode engine: recording switches and the backward walk.</summary>
public static class Graph
{
    [ThreadStatic] internal static int NoGradDepth;

    /// <summary>Whether operations are being recorded on this thread.</summary>
    public static bool IsEnabled => NoGradDepth == 0;

    public static NoGradScope NoGrad()
    {
        NoGradDepth++;
        return default;
    }

    public static bool NeedsGrad(Tensor a) => NoGradDepth == 0 && a.RequiresGrad;

    public static bool NeedsGrad(Tensor a, Tensor b) => NoGradDepth == 0 && (a.RequiresGrad || b.RequiresGrad);

    public static bool NeedsGrad(params ReadOnlySpan<Tensor?> inputs)
    {
        if (NoGradDepth != 0) return false;
        foreach (var t in inputs) if (t is { RequiresGrad: true }) return true;
        return false;
    }

    /// <summary>Attaches <paramref name="node"/> as the producer of <paramref name="output"/>.</summary>
    public static Tensor Record(Tensor output, GradNode node)
    {
        output.Node = node;
        output.RequiresGrad = true;
        return output;
    }

    public static void Backward(Tensor root, Tensor? gradient = null, bool retainGraph = false)
    {
        if (!root.RequiresGrad)
            throw new VitException($"backward: tensor of shape {root.ShapeString} does not require grad (was it computed under NoGrad, or from tensors without RequiresGrad?)");
        if (gradient == null)
        {
            if (root.Numel != 1)
                throw new ShapeException($"backward: output of shape {root.ShapeString} is not a scalar; pass a gradient of the same shape");
            gradient = Tensor.Ones(root.Shape);
        }
        else if (!Tensor.SameShapeAs(gradient, root))
            throw new ShapeException($"backward: gradient shape {gradient.ShapeString} differs from output shape {root.ShapeString}");

        using var noGrad = NoGrad(); // backward itself is never recorded (no double backward)
        var order = TopoOrder(root);
        var grads = new Dictionary<Tensor, Tensor>(ReferenceEqualityComparer.Instance);
        var owned = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        grads[root] = gradient;

        for (int i = order.Count - 1; i >= 0; i--)
        {
            var t = order[i];
            if (!grads.Remove(t, out var g)) continue;
            owned.Remove(g);
            if (t.Node == null || t.RetainGrad)
            {
                AccumulateInto(t, g);
                if (t.Node == null) continue;
            }
            var node = t.Node;
            if (node.Released)
                throw new VitException($"backward: the graph through {node.Name} was already freed; pass retainGraph: true to the first backward to run it twice");
            var inGrads = node.Backward(g);
            if (inGrads.Length != node.Inputs.Length)
                throw new InvalidOperationException($"backward of {node.Name} returned {inGrads.Length} gradients for {node.Inputs.Length} inputs");
            for (int k = 0; k < inGrads.Length; k++)
            {
                var input = node.Inputs[k];
                var ig = inGrads[k];
                if (ig == null || !input.RequiresGrad) continue;
                if (!Tensor.SameShapeAs(ig, input))
                    throw new InvalidOperationException($"backward of {node.Name}: gradient {ig.ShapeString} for input {k} of shape {input.ShapeString}");
                if (grads.TryGetValue(input, out var existing))
                {
                    if (owned.Contains(existing)) AddInPlace(existing, ig);
                    else
                    {
                        var sum = existing.Contiguous().Clone0();
                        AddInPlace(sum, ig);
                        grads[input] = sum;
                        owned.Add(sum);
                    }
                }
                else grads[input] = ig;
            }
            if (!retainGraph)
            {
                node.Release();
                node.Released = true;
            }
        }
    }

    /// <summary>Adds <paramref name="g"/> into the .Grad of <paramref name="t"/>; grads outlive any tensor scope.</summary>
    private static void AccumulateInto(Tensor t, Tensor g)
    {
        using var suspend = TensorScope.Suspend();
        if (t.Grad == null)
        {
            var copy = Tensor.Empty(t.Shape);
            g.CopyTo(copy.AsSpan());
            t.Grad = copy;
        }
        else AddInPlace(t.Grad, g);
    }

    /// <summary>dst += src (same shape); strided sources are read in place, no temporary copy.</summary>
    internal static void AddInPlace(Tensor dst, Tensor src) => dst.Add_(src);

    /// <summary>Tensors reachable from root through recorded nodes, inputs before outputs.</summary>
    private static List<Tensor> TopoOrder(Tensor root)
    {
        var order = new List<Tensor>();
        var visited = new HashSet<Tensor>(ReferenceEqualityComparer.Instance);
        var stack = new Stack<(Tensor t, int next)>();
        stack.Push((root, 0));
        visited.Add(root);
        while (stack.Count > 0)
        {
            var (t, next) = stack.Pop();
            var inputs = t.Node?.Inputs;
            if (inputs != null && next < inputs.Length)
            {
                stack.Push((t, next + 1));
                var child = inputs[next];
                if (child.RequiresGrad && visited.Add(child)) stack.Push((child, 0));
            }
            else order.Add(t);
        }
        return order;
    }
}
