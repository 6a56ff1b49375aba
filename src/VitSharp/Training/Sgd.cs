using System.Globalization;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// Stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay, exactly as
/// torch.optim.SGD (1.13): the first momentum step copies the gradient into the buffer (no dampening).
/// </summary>
public sealed class Sgd : Optimizer
{
    private static readonly string[] Buffers = ["momentum_buffer"];

    public Sgd(IReadOnlyList<ParamGroup> groups, double lr, double momentum = 0, double dampening = 0, bool nesterov = false)
        : base(groups, lr)
    {
        if (lr < 0) throw new VitException($"sgd: learning rate {lr} is negative");
        if (momentum < 0) throw new VitException($"sgd: momentum {momentum} is negative");
        if (nesterov && (momentum <= 0 || dampening != 0))
            throw new VitException("sgd: nesterov momentum needs momentum > 0 and dampening 0");
        foreach (var g in groups)
            if (g.WeightDecay < 0) throw new VitException($"sgd: weight decay {g.WeightDecay} of group '{g.Name}' is negative");
        Momentum = momentum;
        Dampening = dampening;
        Nesterov = nesterov;
    }

    public double Momentum { get; }
    public double Dampening { get; }
    public bool Nesterov { get; }

    public override string Kind => "sgd";

    protected override string[] BufferNames => Buffers;

    protected override unsafe void Update(ParamGroup group, string name, Tensor param, Tensor grad, ParamState st)
    {
        bool first = false;
        if (Momentum != 0 && st.Buffers[0] == null)
        {
            st.Buffers[0] = NewBuffer(param);
            first = true;
        }
        fixed (float* p = param.AsSpan(), g = grad.AsSpan(), buf = st.Buffers[0] is { } b ? b.AsSpan() : default)
        {
            var args = new OptimizerKernels.SgdArgs
            {
                P = p,
                G = g,
                Buf = buf,
                N = param.Numel,
                Lr = (float)group.Lr,
                Wd = (float)group.WeightDecay,
                Momentum = (float)Momentum,
                OneMinusDampening = (float)(1 - Dampening),
                Nesterov = Nesterov,
                FirstStep = first,
            };
            OptimizerKernels.Sgd(args);
        }
    }

    protected override Dictionary<string, string> Options() => new()
    {
        ["momentum"] = Momentum.ToString("R", CultureInfo.InvariantCulture),
        ["dampening"] = Dampening.ToString("R", CultureInfo.InvariantCulture),
        ["nesterov"] = Nesterov ? "true" : "false",
    };
}
