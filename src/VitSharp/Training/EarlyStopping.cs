using System.Globalization;

namespace VitSharp.Training;

/// <summary>
/// Stops training after <see cref="Patience"/> epochs without improvement of a monitored value (validation
/// accuracy: higher is better; validation loss: lower is better) by more than <see cref="MinDelta"/>.
/// </summary>
public sealed class EarlyStopping
{
    public EarlyStopping(int patience, bool higherIsBetter = true, double minDelta = 0)
    {
        if (patience < 1) throw new VitException($"early-stop: patience {patience} must be ≥ 1");
        if (minDelta < 0) throw new VitException($"early-stop: min delta {minDelta} is negative");
        Patience = patience;
        HigherIsBetter = higherIsBetter;
        MinDelta = minDelta;
    }

    public int Patience { get; }
    public bool HigherIsBetter { get; }
    public double MinDelta { get; }

    public double? Best { get; private set; }
    public int BestEpoch { get; private set; } = -1;
    public int EpochsWithoutImprovement { get; private set; }
    public bool ShouldStop => EpochsWithoutImprovement >= Patience;

    /// <summary>Records the value of <paramref name="epoch"/>; returns true when it improved on the best so far.</summary>
    public bool Update(int epoch, double value)
    {
        bool improved = Best is not { } b || (HigherIsBetter ? value > b + MinDelta : value < b - MinDelta);
        if (double.IsNaN(value)) improved = false;
        if (improved)
        {
            Best = value;
            BestEpoch = epoch;
            EpochsWithoutImprovement = 0;
        }
        else EpochsWithoutImprovement++;
        return improved;
    }

    public Dictionary<string, string> ToMetadata() => new()
    {
        ["early_stop.best"] = Best?.ToString("R", CultureInfo.InvariantCulture) ?? "",
        ["early_stop.best_epoch"] = BestEpoch.ToString(CultureInfo.InvariantCulture),
        ["early_stop.bad_epochs"] = EpochsWithoutImprovement.ToString(CultureInfo.InvariantCulture),
    };

    public void LoadMetadata(IReadOnlyDictionary<string, string> m)
    {
        if (m.TryGetValue("early_stop.best", out var b)) Best = b.Length == 0 ? null : double.Parse(b, CultureInfo.InvariantCulture);
        if (m.TryGetValue("early_stop.best_epoch", out var e)) BestEpoch = int.Parse(e, CultureInfo.InvariantCulture);
        if (m.TryGetValue("early_stop.bad_epochs", out var n)) EpochsWithoutImprovement = int.Parse(n, CultureInfo.InvariantCulture);
    }
}
