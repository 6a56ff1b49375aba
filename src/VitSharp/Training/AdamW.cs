using System.Globalization;
using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// Adam with decoupled weight decay, exactly as torch.optim.AdamW (1.13, single-tensor path): parameters are
/// first scaled by (1 − lr·wd), moments use bias correction, and <c>amsgrad</c> keeps the running maximum of
/// the second moment.
/// </summary>
public sealed class AdamW : Optimizer
{
    private static readonly string[] Plain = ["exp_avg", "exp_avg_sq"];
    private static readonly string[] Ams = ["exp_avg", "exp_avg_sq", "max_exp_avg_sq"];

    public AdamW(IReadOnlyList<ParamGroup> groups, double lr, double beta1 = 0.9, double beta2 = 0.999, double eps = 1e-8, bool amsgrad = false)
        : base(groups, lr)
    {
        if (lr < 0) throw new VitException($"adamw: learning rate {lr} is negative");
        if (beta1 is < 0 or >= 1) throw new VitException($"adamw: beta1 {beta1} is outside [0, 1)");
        if (beta2 is < 0 or >= 1) throw new VitException($"adamw: beta2 {beta2} is outside [0, 1)");
        if (eps < 0) throw new VitException($"adamw: eps {eps} is negative");
        Beta1 = beta1;
        Beta2 = beta2;
        Eps = eps;
        AmsGrad = amsgrad;
    }

    public double Beta1 { get; }
    public double Beta2 { get; }
    public double Eps { get; }
    public bool AmsGrad { get; }

    public override string Kind => "adamw";

    protected override string[] BufferNames => AmsGrad ? Ams : Plain;

    protected override unsafe void Update(ParamGroup group, string name, Tensor param, Tensor grad, ParamState st)
    {
        var bufs = st.Buffers;
        for (int i = 0; i < bufs.Length; i++) bufs[i] ??= NewBuffer(param);
        // Scalars are computed in double and rounded once, as Python floats are before reaching the kernels.
        double lr = group.Lr, step = st.Step;
        double bc1 = 1 - Math.Pow(Beta1, step), bc2 = 1 - Math.Pow(Beta2, step);
        fixed (float* p = param.AsSpan(), g = grad.AsSpan(), m = bufs[0]!.AsSpan(), v = bufs[1]!.AsSpan())
        fixed (float* vmax = AmsGrad ? bufs[2]!.AsSpan() : default)
        {
            var args = new OptimizerKernels.AdamArgs
            {
                P = p,
                G = g,
                M = m,
                V = v,
                VMax = AmsGrad ? vmax : null,
                N = param.Numel,
                Decay = (float)(1 - lr * group.WeightDecay),
                Beta1 = (float)Beta1,
                OneMinusBeta1 = (float)(1 - Beta1),
                Beta2 = (float)Beta2,
                OneMinusBeta2 = (float)(1 - Beta2),
                Bc2Sqrt = (float)Math.Sqrt(bc2),
                Eps = (float)Eps,
                NegStepSize = (float)(-(lr / bc1)),
            };
            OptimizerKernels.Adam(args);
        }
    }

    protected override Dictionary<string, string> Options() => new()
    {
        ["beta1"] = Beta1.ToString("R", CultureInfo.InvariantCulture),
        ["beta2"] = Beta2.ToString("R", CultureInfo.InvariantCulture),
        ["eps"] = Eps.ToString("R", CultureInfo.InvariantCulture),
        ["amsgrad"] = AmsGrad ? "true" : "false",
    };
}
