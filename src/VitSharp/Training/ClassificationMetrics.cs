using System.Globalization;
using System.Text;

namespace VitSharp.Training;

/// <summary>
/// Confusion matrix (rows: true class, columns: predicted class) with top-1 / per-class accuracy, and a text
/// rendering for the CLI.
/// </summary>
public sealed class ConfusionMatrix
{
    private readonly long[] counts;

    public ConfusionMatrix(int numClasses)
    {
        if (numClasses < 1) throw new VitException($"confusion matrix: {numClasses} classes");
        NumClasses = numClasses;
        counts = new long[numClasses * numClasses];
    }

    public int NumClasses { get; }

    public long this[int actual, int predicted] => counts[actual * NumClasses + predicted];

    public void Add(int actual, int predicted)
    {
        if ((uint)actual >= (uint)NumClasses) throw new VitException($"confusion matrix: label {actual} outside [0, {NumClasses})");
        if ((uint)predicted >= (uint)NumClasses) throw new VitException($"confusion matrix: prediction {predicted} outside [0, {NumClasses})");
        counts[actual * NumClasses + predicted]++;
    }

    public long Total => counts.Sum();

    public long Correct
    {
        get
        {
            long c = 0;
            for (int i = 0; i < NumClasses; i++) c += this[i, i];
            return c;
        }
    }

    public double Accuracy => Total == 0 ? double.NaN : (double)Correct / Total;

    public long Support(int actual)
    {
        long s = 0;
        for (int j = 0; j < NumClasses; j++) s += this[actual, j];
        return s;
    }

    /// <summary>Per-class accuracy (recall): correct / samples of that class; NaN for classes with no samples.</summary>
    public double[] PerClassAccuracy()
    {
        var r = new double[NumClasses];
        for (int i = 0; i < NumClasses; i++)
        {
            long s = Support(i);
            r[i] = s == 0 ? double.NaN : (double)this[i, i] / s;
        }
        return r;
    }

    public long[,] ToArray()
    {
        var a = new long[NumClasses, NumClasses];
        for (int i = 0; i < NumClasses; i++)
            for (int j = 0; j < NumClasses; j++) a[i, j] = this[i, j];
        return a;
    }

    /// <summary>
    /// A fixed-width table: one row per true class with its counts per predicted class, then its support and
    /// accuracy. Long class names are shortened so the table stays readable.
    /// </summary>
    public string Render(IReadOnlyList<string>? classNames = null, int maxNameLength = 14)
    {
        string Name(int i)
        {
            var n = classNames != null && i < classNames.Count ? classNames[i] : i.ToString(CultureInfo.InvariantCulture);
            return n.Length > maxNameLength ? n[..(maxNameLength - 1)] + "…" : n;
        }
        int nameW = Math.Max("true \\ pred".Length, Enumerable.Range(0, NumClasses).Max(i => Name(i).Length));
        int cellW = Math.Max(counts.Length == 0 ? 1 : counts.Max().ToString(CultureInfo.InvariantCulture).Length, 3);
        var colNames = Enumerable.Range(0, NumClasses).Select(i => Name(i)).ToArray();
        int[] colW = [.. colNames.Select(n => Math.Max(cellW, n.Length))];
        var sb = new StringBuilder();
        sb.Append("true \\ pred".PadRight(nameW));
        for (int j = 0; j < NumClasses; j++) sb.Append("  ").Append(colNames[j].PadLeft(colW[j]));
        sb.Append("  ").Append("support".PadLeft(8)).Append("  ").Append("acc".PadLeft(7)).Append('\n');
        var acc = PerClassAccuracy();
        for (int i = 0; i < NumClasses; i++)
        {
            sb.Append(Name(i).PadRight(nameW));
            for (int j = 0; j < NumClasses; j++) sb.Append("  ").Append(this[i, j].ToString(CultureInfo.InvariantCulture).PadLeft(colW[j]));
            sb.Append("  ").Append(Support(i).ToString(CultureInfo.InvariantCulture).PadLeft(8));
            sb.Append("  ").Append(double.IsNaN(acc[i]) ? "      -" : (acc[i] * 100).ToString("F2", CultureInfo.InvariantCulture).PadLeft(6) + "%");
            sb.Append('\n');
        }
        return sb.ToString();
    }
}

/// <summary>Accumulates top-1 / top-k accuracy, mean loss and the confusion matrix over batches of logits.</summary>
public sealed class ClassificationMetrics
{
    public ClassificationMetrics(int numClasses, int topK = 5)
    {
        NumClasses = numClasses;
        TopK = Math.Max(1, Math.Min(topK, numClasses));
        Confusion = new ConfusionMatrix(numClasses);
    }

    public int NumClasses { get; }
    public int TopK { get; }
    public ConfusionMatrix Confusion { get; }

    public long Count { get; private set; }
    public long Top1Correct { get; private set; }
    public long TopKCorrect { get; private set; }
    public double LossSum { get; private set; }

    public double Top1 => Count == 0 ? double.NaN : (double)Top1Correct / Count;
    public double TopKAccuracy => Count == 0 ? double.NaN : (double)TopKCorrect / Count;
    public double MeanLoss => Count == 0 ? double.NaN : LossSum / Count;

    /// <summary>
    /// Adds a batch: <paramref name="logits"/> is row-major (batch × classes). <paramref name="meanLoss"/>, when
    /// given, is the batch's mean loss (weighted by batch size in <see cref="MeanLoss"/>).
    /// </summary>
    public void Add(ReadOnlySpan<float> logits, ReadOnlySpan<int> labels, double? meanLoss = null)
    {
        int c = NumClasses;
        if (logits.Length != labels.Length * c)
            throw new VitException($"metrics: {logits.Length} logits for {labels.Length} labels × {c} classes");
        for (int b = 0; b < labels.Length; b++)
        {
            var row = logits.Slice(b * c, c);
            int label = labels[b];
            int pred = ArgMax(row);
            Confusion.Add(label, pred);
            if (pred == label) Top1Correct++;
            // Rank of the true class: logits that beat it, ties going to the lower index as in ArgMax.
            float target = row[label];
            int better = 0;
            for (int j = 0; j < c; j++)
                if (row[j] > target || (row[j] == target && j < label)) better++;
            if (better < TopK) TopKCorrect++;
        }
        Count += labels.Length;
        if (meanLoss is { } l) LossSum += l * labels.Length;
    }

    public static int ArgMax(ReadOnlySpan<float> row)
    {
        int best = 0;
        for (int j = 1; j < row.Length; j++)
            if (row[j] > row[best]) best = j;
        return best;
    }
}
