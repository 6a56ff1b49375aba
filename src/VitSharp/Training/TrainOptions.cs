using System.Text.Json.Serialization;

namespace VitSharp.Training;

/// <summary>Everything that shapes a training run (the `vit train` options that reach the loop).</summary>
public sealed record TrainOptions
{
    public int Epochs { get; init; } = 10;
    public double Lr { get; init; } = 0.001;

    /// <summary>Final learning-rate factor of the cosine schedule (tutorial default 0.01).</summary>
    public double Lrf { get; init; } = 0.01;

    public double WarmupEpochs { get; init; }
    public LrScheduleKind Schedule { get; init; } = LrScheduleKind.EpochCosine;

    /// <summary>"sgd" or "adamw".</summary>
    public string Optimizer { get; init; } = "sgd";

    public double Momentum { get; init; } = 0.9;
    public bool Nesterov { get; init; }
    public double WeightDecay { get; init; } = 5e-5;
    public double Beta1 { get; init; } = 0.9;
    public double Beta2 { get; init; } = 0.999;
    public double Eps { get; init; } = 1e-8;

    public float LabelSmoothing { get; init; }
    public double Mixup { get; init; }
    public double Cutmix { get; init; }
    public double MixupProb { get; init; } = 1.0;

    /// <summary>Max global gradient norm; 0 disables clipping.</summary>
    public double ClipGrad { get; init; }

    public int GradAccum { get; init; } = 1;

    /// <summary>EMA decay of the weights; 0 disables EMA.</summary>
    public double Ema { get; init; }

    /// <summary>Patience in epochs on validation accuracy; 0 disables early stopping.</summary>
    public int EarlyStop { get; init; }

    /// <summary>Train only the head and pre-logits (names containing "head" or "pre_logits"), as the tutorial's --freeze-layers.</summary>
    public bool FreezeLayers { get; init; }

    public ulong Seed { get; init; }
    public int TopK { get; init; } = 5;
    public bool Resume { get; init; }

    /// <summary>Which parameters stay trainable when <see cref="FreezeLayers"/> is set (default: the tutorial's rule).</summary>
    [JsonIgnore]
    public Func<string, bool> KeepTrainable { get; init; } = DefaultKeepTrainable;

    public static bool DefaultKeepTrainable(string name) =>
        name.Contains("head", StringComparison.Ordinal) || name.Contains("pre_logits", StringComparison.Ordinal);

    /// <summary>Rejects out-of-range values with one-line messages naming the option.</summary>
    public void Validate()
    {
        static void Check(bool ok, string msg)
        {
            if (!ok) throw new VitException(msg);
        }
        Check(Epochs >= 1, $"--epochs must be ≥ 1 (got {Epochs})");
        Check(Lr > 0 && double.IsFinite(Lr), $"--lr must be a positive number (got {Lr})");
        Check(Lrf is >= 0 and <= 1, $"--lrf must be in [0, 1] (got {Lrf})");
        Check(WarmupEpochs >= 0 && WarmupEpochs <= Epochs, $"--warmup-epochs must be in [0, epochs] (got {WarmupEpochs})");
        Check(Optimizer is "sgd" or "adamw", $"--optimizer must be sgd or adamw (got '{Optimizer}')");
        Check(Momentum is >= 0 and < 1, $"--momentum must be in [0, 1) (got {Momentum})");
        Check(!Nesterov || Momentum > 0, "--nesterov needs --momentum > 0");
        Check(WeightDecay >= 0, $"--weight-decay must be ≥ 0 (got {WeightDecay})");
        Check(LabelSmoothing is >= 0 and < 1, $"--label-smoothing must be in [0, 1) (got {LabelSmoothing})");
        Check(Mixup >= 0, $"--mixup must be ≥ 0 (got {Mixup})");
        Check(Cutmix >= 0, $"--cutmix must be ≥ 0 (got {Cutmix})");
        Check(MixupProb is >= 0 and <= 1, $"mixup probability must be in [0, 1] (got {MixupProb})");
        Check(ClipGrad >= 0, $"--clip-grad must be ≥ 0 (got {ClipGrad})");
        Check(GradAccum >= 1, $"--grad-accum must be ≥ 1 (got {GradAccum})");
        Check(Ema is >= 0 and < 1, $"--ema must be in [0, 1) (got {Ema})");
        Check(EarlyStop >= 0, $"--early-stop must be ≥ 0 (got {EarlyStop})");
        Check(TopK >= 1, $"--top-k must be ≥ 1 (got {TopK})");
    }
}
