using VitSharp.Checkpoints;
using System.Globalization;
using System.Text;

namespace VitSharp.Training;

/// <summary>One epoch's summary, as written to metrics.csv and the report.</summary>
public sealed record EpochMetrics(int Epoch, double TrainLoss, double TrainAcc, double ValLoss, double ValAcc, double Lr, double Seconds);

/// <summary>
/// metrics.csv: a header and one row per epoch. The whole file is rewritten atomically after each epoch, so it
/// is never half-written; on resume it is loaded and rows past the resumed epoch are dropped.
/// </summary>
public sealed class MetricsLog
{
    public const string Header = "epoch,train_loss,train_acc,val_loss,val_acc,lr,seconds";

    private readonly List<EpochMetrics> rows = [];

    public IReadOnlyList<EpochMetrics> Rows => rows;

    /// <summary>Adds (or replaces, when the epoch is already present) a row.</summary>
    public void Add(EpochMetrics m)
    {
        rows.RemoveAll(r => r.Epoch >= m.Epoch);
        rows.Add(m);
    }

    /// <summary>Keeps only epochs before <paramref name="epoch"/> (used when resuming).</summary>
    public void TruncateFrom(int epoch) => rows.RemoveAll(r => r.Epoch >= epoch);

    public string ToCsv()
    {
        var sb = new StringBuilder(Header).Append('\n');
        foreach (var r in rows)
        {
            sb.Append(r.Epoch.ToString(CultureInfo.InvariantCulture)).Append(',')
              .Append(F(r.TrainLoss)).Append(',').Append(F(r.TrainAcc)).Append(',')
              .Append(F(r.ValLoss)).Append(',').Append(F(r.ValAcc)).Append(',')
              .Append(r.Lr.ToString("G9", CultureInfo.InvariantCulture)).Append(',')
              .Append(r.Seconds.ToString("F3", CultureInfo.InvariantCulture)).Append('\n');
        }
        return sb.ToString();
    }

    private static string F(double v) => double.IsNaN(v) ? "nan" : v.ToString("G9", CultureInfo.InvariantCulture);

    public void Save(string path) => AtomicFile.WriteAllText(path, ToCsv());

    public static MetricsLog Load(string path)
    {
        var log = new MetricsLog();
        if (!File.Exists(path)) return log;
        var lines = File.ReadAllLines(path);
        if (lines.Length == 0 || lines[0].Trim() != Header) throw new VitException($"{path}: not a metrics.csv (header should be '{Header}')");
        for (int i = 1; i < lines.Length; i++)
        {
            if (string.IsNullOrWhiteSpace(lines[i])) continue;
            var c = lines[i].Split(',');
            if (c.Length != 7) throw new VitException($"{path}: line {i + 1} has {c.Length} fields, expected 7");
            static double D(string s) => s == "nan" ? double.NaN : double.Parse(s, CultureInfo.InvariantCulture);
            log.rows.Add(new EpochMetrics(int.Parse(c[0], CultureInfo.InvariantCulture), D(c[1]), D(c[2]), D(c[3]), D(c[4]), D(c[5]), D(c[6])));
        }
        return log;
    }
}
