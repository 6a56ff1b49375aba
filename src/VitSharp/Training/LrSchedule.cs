using System.Globalization;

namespace VitSharp.Training;

/// <summary>How the learning rate moves after warmup.</summary>
public enum LrScheduleKind
{
    /// <summary>The base learning rate throughout.</summary>
    Constant,

    /// <summary>
    /// The tutorial's LambdaLR, stepped once per epoch: lr = base · (((1 + cos(epoch·π/epochs)) / 2)·(1 − lrf) + lrf).
    /// </summary>
    EpochCosine,

    /// <summary>Cosine per optimiser step from base down to base·lrf over the steps after warmup (timm-like, warmup as a prefix).</summary>
    StepCosine,
}

/// <summary>
/// A learning-rate schedule as a pure function of the optimiser step (0-based count of updates already made),
/// so a resumed run computes exactly the same rates. An optional linear warmup runs per step first, from
/// base·<see cref="WarmupStartFactor"/> up to base.
/// </summary>
public sealed record LrSchedule(
    LrScheduleKind Kind,
    double BaseLr,
    int Epochs,
    int StepsPerEpoch,
    double Lrf = 0.01,
    long WarmupSteps = 0,
    double WarmupStartFactor = 0.001)
{
    public static LrSchedule Constant(double lr, long warmupSteps = 0, double warmupStartFactor = 0.001) =>
        new LrSchedule(LrScheduleKind.Constant, lr, 1, 1, 1.0, warmupSteps, warmupStartFactor).Validated();

    /// <summary>The tutorial's per-epoch cosine factor (train.py's LambdaLR).</summary>
    public static LrSchedule EpochCosine(double lr, int epochs, int stepsPerEpoch, double lrf, long warmupSteps = 0, double warmupStartFactor = 0.001) =>
        new LrSchedule(LrScheduleKind.EpochCosine, lr, epochs, stepsPerEpoch, lrf, warmupSteps, warmupStartFactor).Validated();

    /// <summary>Linear warmup per step, then cosine per step to lr·lrf at the last step.</summary>
    public static LrSchedule StepCosine(double lr, int epochs, int stepsPerEpoch, double lrf, long warmupSteps = 0, double warmupStartFactor = 0.001) =>
        new LrSchedule(LrScheduleKind.StepCosine, lr, epochs, stepsPerEpoch, lrf, warmupSteps, warmupStartFactor).Validated();

    public long TotalSteps => (long)Epochs * StepsPerEpoch;

    private LrSchedule Validated()
    {
        if (!(BaseLr >= 0) || double.IsInfinity(BaseLr)) throw new VitException($"lr schedule: learning rate {BaseLr} must be a finite value ≥ 0");
        if (Epochs < 1) throw new VitException($"lr schedule: epochs {Epochs} must be ≥ 1");
        if (StepsPerEpoch < 1) throw new VitException($"lr schedule: steps per epoch {StepsPerEpoch} must be ≥ 1");
        if (Lrf is < 0 or > 1) throw new VitException($"lr schedule: lrf {Lrf} is outside [0, 1]");
        if (WarmupSteps < 0) throw new VitException($"lr schedule: warmup steps {WarmupSteps} is negative");
        if (WarmupStartFactor is < 0 or > 1) throw new VitException($"lr schedule: warmup start factor {WarmupStartFactor} is outside [0, 1]");
        return this;
    }

    /// <summary>The tutorial's factor for an epoch: ((1 + cos(epoch·π/epochs)) / 2)·(1 − lrf) + lrf.</summary>
    public static double CosineFactor(double epoch, double epochs, double lrf) =>
        ((1 + Math.Cos(epoch * Math.PI / epochs)) / 2) * (1 - lrf) + lrf;

    /// <summary>The learning rate for the update with 0-based index <paramref name="step"/>.</summary>
    public double Lr(long step)
    {
        if (step < 0) step = 0;
        if (step < WarmupSteps)
        {
            double a = (double)step / WarmupSteps;
            return BaseLr * (WarmupStartFactor + (1 - WarmupStartFactor) * a);
        }
        switch (Kind)
        {
            case LrScheduleKind.EpochCosine:
                {
                    long epoch = Math.Min(step / StepsPerEpoch, Epochs - 1);
                    return BaseLr * CosineFactor(epoch, Epochs, Lrf);
                }
            case LrScheduleKind.StepCosine:
                {
                    long span = Math.Max(1, TotalSteps - WarmupSteps);
                    double t = Math.Min(step - WarmupSteps, span);
                    return BaseLr * CosineFactor(t, span, Lrf);
                }
            default:
                return BaseLr;
        }
    }

    public string Describe() => Kind switch
    {
        LrScheduleKind.EpochCosine => $"cosine per epoch (lrf {Lrf.ToString(CultureInfo.InvariantCulture)})",
        LrScheduleKind.StepCosine => $"cosine per step (lrf {Lrf.ToString(CultureInfo.InvariantCulture)})",
        _ => "constant",
    } + (WarmupSteps > 0 ? $", warmup {WarmupSteps} steps" : "");

    /// <summary>String form for checkpoint metadata ("lr_schedule.*" keys).</summary>
    public Dictionary<string, string> ToMetadata() => new()
    {
        ["lr_schedule.kind"] = Kind.ToString(),
        ["lr_schedule.base_lr"] = BaseLr.ToString("R", CultureInfo.InvariantCulture),
        ["lr_schedule.epochs"] = Epochs.ToString(CultureInfo.InvariantCulture),
        ["lr_schedule.steps_per_epoch"] = StepsPerEpoch.ToString(CultureInfo.InvariantCulture),
        ["lr_schedule.lrf"] = Lrf.ToString("R", CultureInfo.InvariantCulture),
        ["lr_schedule.warmup_steps"] = WarmupSteps.ToString(CultureInfo.InvariantCulture),
        ["lr_schedule.warmup_start_factor"] = WarmupStartFactor.ToString("R", CultureInfo.InvariantCulture),
    };

    public static LrSchedule FromMetadata(IReadOnlyDictionary<string, string> m)
    {
        string Get(string k) => m.TryGetValue("lr_schedule." + k, out var v) ? v : throw new VitException($"lr schedule: checkpoint metadata lacks 'lr_schedule.{k}'");
        double D(string k) => double.Parse(Get(k), CultureInfo.InvariantCulture);
        if (!Enum.TryParse<LrScheduleKind>(Get("kind"), out var kind)) throw new VitException($"lr schedule: unknown kind '{Get("kind")}' in checkpoint metadata");
        return new LrSchedule(kind, D("base_lr"), int.Parse(Get("epochs"), CultureInfo.InvariantCulture),
            int.Parse(Get("steps_per_epoch"), CultureInfo.InvariantCulture), D("lrf"),
            long.Parse(Get("warmup_steps"), CultureInfo.InvariantCulture), D("warmup_start_factor")).Validated();
    }
}
