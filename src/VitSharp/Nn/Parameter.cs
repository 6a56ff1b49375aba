using VitSharp.Tensors;

namespace VitSharp.Nn;

/// <summary>
/// A trainable tensor owned by a <see cref="Module"/>. The wrapper (rather than a Tensor subclass) lets a
/// module swap the underlying tensor (e.g. a resized position embedding) while optimisers keep a stable handle.
/// </summary>
public sealed class Parameter
{
    private Tensor value;

    public Parameter(Tensor value, bool requiresGrad = true, bool noWeightDecay = false)
    {
        this.value = value;
        value.RequiresGrad = requiresGrad;
        NoWeightDecay = noWeightDecay;
    }

    /// <summary>The tensor (a leaf). Replacing it keeps the RequiresGrad setting.</summary>
    public Tensor Value
    {
        get => value;
        set
        {
            value.RequiresGrad = this.value.RequiresGrad;
            value.Name = this.value.Name;
            this.value = value;
        }
    }

    /// <summary>Excluded from weight decay (biases, norms, tokens, position embeddings).</summary>
    public bool NoWeightDecay { get; set; }

    public bool RequiresGrad
    {
        get => value.RequiresGrad;
        set => this.value.RequiresGrad = value;
    }

    public int[] Shape => value.Shape;

    public static implicit operator Tensor(Parameter p) => p.value;

    public override string ToString() => $"Parameter{value.ShapeString}";
}
