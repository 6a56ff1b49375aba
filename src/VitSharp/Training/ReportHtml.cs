using VitSharp.Checkpoints;
using System.Globalization;
using System.Net;
using System.Text;

namespace VitSharp.Training;

/// <summary>
/// report.html: one self-contained page (inline CSS and SVG, no scripts, no external assets) with the loss,
/// accuracy and learning-rate curves per epoch, the confusion matrix as a heat map and per-class accuracy.
/// </summary>
public static class ReportHtml
{
    private static readonly CultureInfo Inv = CultureInfo.InvariantCulture;

    public sealed record Series(string Name, string Color, IReadOnlyList<(double X, double Y)> Points);

    /// <summary>Builds the page. <paramref name="summary"/> rows are shown as a key/value table at the top.</summary>
    public static string Build(string title, IReadOnlyList<EpochMetrics> epochs, ConfusionMatrix? confusion,
        IReadOnlyList<string>? classNames, IReadOnlyList<(string Key, string Value)>? summary = null)
    {
        var sb = new StringBuilder();
        sb.Append("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>").Append(E(title)).Append("</title>\n<style>")
          .Append("body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:24px;color:#222;background:#fff}")
          .Append("h1{font-size:22px}h2{font-size:17px;margin-top:28px}table{border-collapse:collapse;font-size:13px}")
          .Append("td,th{padding:3px 10px;border-bottom:1px solid #e4e4e4;text-align:right}th{background:#f5f5f5}")
          .Append("td:first-child,th:first-child{text-align:left}.charts{display:flex;flex-wrap:wrap;gap:16px}")
          .Append("svg text{font-family:system-ui,sans-serif}</style></head><body>\n");
        sb.Append("<h1>").Append(E(title)).Append("</h1>\n");
        if (summary is { Count: > 0 })
        {
            sb.Append("<table>");
            foreach (var (k, v) in summary) sb.Append("<tr><td>").Append(E(k)).Append("</td><td>").Append(E(v)).Append("</td></tr>");
            sb.Append("</table>\n");
        }

        if (epochs.Count > 0)
        {
            static List<(double, double)> Pts(IReadOnlyList<EpochMetrics> es, Func<EpochMetrics, double> f) =>
                [.. es.Select(e => ((double)e.Epoch, f(e))).Where(p => double.IsFinite(p.Item2))];
            sb.Append("<h2>Training curves</h2><div class=\"charts\">\n");
            sb.Append(LineChart("Loss", "epoch", "loss",
                [new("train", "#1f77b4", Pts(epochs, e => e.TrainLoss)), new("val", "#d62728", Pts(epochs, e => e.ValLoss))]));
            sb.Append(LineChart("Accuracy", "epoch", "accuracy",
                [new("train", "#1f77b4", Pts(epochs, e => e.TrainAcc)), new("val", "#d62728", Pts(epochs, e => e.ValAcc))]));
            sb.Append(LineChart("Learning rate", "epoch", "lr", [new("lr", "#2ca02c", Pts(epochs, e => e.Lr))]));
            sb.Append("</div>\n<h2>Per epoch</h2><table><tr><th>epoch</th><th>train loss</th><th>train acc</th><th>val loss</th><th>val acc</th><th>lr</th><th>seconds</th></tr>");
            foreach (var e in epochs)
                sb.Append("<tr><td>").Append(e.Epoch.ToString(Inv)).Append("</td><td>").Append(N(e.TrainLoss, "F4")).Append("</td><td>")
                  .Append(Pct(e.TrainAcc)).Append("</td><td>").Append(N(e.ValLoss, "F4")).Append("</td><td>").Append(Pct(e.ValAcc))
                  .Append("</td><td>").Append(N(e.Lr, "G4")).Append("</td><td>").Append(N(e.Seconds, "F1")).Append("</td></tr>");
            sb.Append("</table>\n");
        }

        if (confusion != null)
        {
            sb.Append("<h2>Confusion matrix</h2>\n").Append(Heatmap(confusion, classNames));
            var acc = confusion.PerClassAccuracy();
            sb.Append("<h2>Per-class accuracy</h2><table><tr><th>class</th><th>support</th><th>accuracy</th></tr>");
            for (int i = 0; i < confusion.NumClasses; i++)
                sb.Append("<tr><td>").Append(E(ClassName(classNames, i))).Append("</td><td>").Append(confusion.Support(i).ToString(Inv))
                  .Append("</td><td>").Append(Pct(acc[i])).Append("</td></tr>");
            sb.Append("<tr><th>all</th><th>").Append(confusion.Total.ToString(Inv)).Append("</th><th>").Append(Pct(confusion.Accuracy)).Append("</th></tr></table>\n");
        }
        sb.Append("</body></html>\n");
        return sb.ToString();
    }

    public static void Write(string path, string title, IReadOnlyList<EpochMetrics> epochs, ConfusionMatrix? confusion,
        IReadOnlyList<string>? classNames, IReadOnlyList<(string Key, string Value)>? summary = null) =>
        AtomicFile.WriteAllText(path, Build(title, epochs, confusion, classNames, summary));

    private static string ClassName(IReadOnlyList<string>? names, int i) => names != null && i < names.Count ? names[i] : i.ToString(Inv);

    private static string E(string s) => WebUtility.HtmlEncode(s);

    private static string N(double v, string fmt) => double.IsFinite(v) ? v.ToString(fmt, Inv) : "–";

    private static string Pct(double v) => double.IsFinite(v) ? (v * 100).ToString("F2", Inv) + "%" : "–";

    private static string C(double v) => v.ToString("0.##", Inv);

    /// <summary>Round tick step (1, 2 or 5 × 10^k) giving about <paramref name="target"/> ticks over <paramref name="range"/>.</summary>
    internal static double NiceStep(double range, int target = 5)
    {
        if (!(range > 0)) return 1;
        double raw = range / target, mag = Math.Pow(10, Math.Floor(Math.Log10(raw))), f = raw / mag;
        return (f < 1.5 ? 1 : f < 3.5 ? 2 : f < 7.5 ? 5 : 10) * mag;
    }

    /// <summary>An SVG line chart with axes, ticks, grid, markers and a legend.</summary>
    public static string LineChart(string title, string xLabel, string yLabel, IReadOnlyList<Series> series, int width = 420, int height = 280)
    {
        const double left = 62, right = 14, top = 30, bottom = 44;
        double pw = width - left - right, ph = height - top - bottom;
        var all = series.SelectMany(s => s.Points).ToList();
        double xMin = all.Count > 0 ? all.Min(p => p.X) : 0, xMax = all.Count > 0 ? all.Max(p => p.X) : 1;
        double yMin = all.Count > 0 ? all.Min(p => p.Y) : 0, yMax = all.Count > 0 ? all.Max(p => p.Y) : 1;
        if (xMax <= xMin) { xMin -= 0.5; xMax += 0.5; }
        if (yMax <= yMin) { double d = Math.Abs(yMax) * 0.1 + 1e-9; yMin -= d; yMax += d; }
        double yStep = NiceStep(yMax - yMin), xStep = Math.Max(1, NiceStep(xMax - xMin));
        yMin = Math.Floor(yMin / yStep) * yStep;
        yMax = Math.Ceiling(yMax / yStep) * yStep;
        double X(double x) => left + (x - xMin) / (xMax - xMin) * pw;
        double Y(double y) => top + (1 - (y - yMin) / (yMax - yMin)) * ph;

        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"{E(title)}\">");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(left)}\" y=\"18\" font-size=\"14\" font-weight=\"600\">{E(title)}</text>");
        for (int k = 0; ; k++)
        {
            double v = yMin + k * yStep;
            if (v > yMax + yStep * 1e-6) break;
            double y = Y(v);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{C(left)}\" y1=\"{C(y)}\" x2=\"{C(left + pw)}\" y2=\"{C(y)}\" stroke=\"#e6e6e6\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(left - 6)}\" y=\"{C(y + 4)}\" font-size=\"11\" text-anchor=\"end\">{E(v.ToString("G4", Inv))}</text>");
        }
        for (double v = Math.Ceiling(xMin / xStep) * xStep; v <= xMax + 1e-9; v += xStep)
        {
            double x = X(v);
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{C(x)}\" y1=\"{C(top + ph)}\" x2=\"{C(x)}\" y2=\"{C(top + ph + 4)}\" stroke=\"#555\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(x)}\" y=\"{C(top + ph + 17)}\" font-size=\"11\" text-anchor=\"middle\">{E(v.ToString("G4", Inv))}</text>");
        }
        sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{C(left)}\" y=\"{C(top)}\" width=\"{C(pw)}\" height=\"{C(ph)}\" fill=\"none\" stroke=\"#555\"/>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(left + pw / 2)}\" y=\"{height - 8}\" font-size=\"12\" text-anchor=\"middle\">{E(xLabel)}</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"14\" y=\"{C(top + ph / 2)}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 14 {C(top + ph / 2)})\">{E(yLabel)}</text>");
        int li = 0;
        foreach (var s in series)
        {
            if (s.Points.Count > 0)
            {
                sb.Append("<polyline fill=\"none\" stroke=\"").Append(E(s.Color)).Append("\" stroke-width=\"2\" points=\"");
                foreach (var (x, y) in s.Points) sb.Append(C(X(x))).Append(',').Append(C(Y(y))).Append(' ');
                sb.Append("\"/>");
                foreach (var (x, y) in s.Points)
                    sb.Append(CultureInfo.InvariantCulture, $"<circle cx=\"{C(X(x))}\" cy=\"{C(Y(y))}\" r=\"2.5\" fill=\"{E(s.Color)}\"><title>{E(s.Name)} {E(x.ToString("G6", Inv))}: {E(y.ToString("G6", Inv))}</title></circle>");
            }
            double lx = left + pw - 80, ly = top + 12 + 16 * li++;
            sb.Append(CultureInfo.InvariantCulture, $"<line x1=\"{C(lx)}\" y1=\"{C(ly - 4)}\" x2=\"{C(lx + 18)}\" y2=\"{C(ly - 4)}\" stroke=\"{E(s.Color)}\" stroke-width=\"2\"/>");
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(lx + 23)}\" y=\"{C(ly)}\" font-size=\"11\">{E(s.Name)}</text>");
        }
        sb.Append("</svg>\n");
        return sb.ToString();
    }

    /// <summary>Confusion matrix heat map: cell colour by row-normalised share, counts written in the cells.</summary>
    public static string Heatmap(ConfusionMatrix cm, IReadOnlyList<string>? classNames)
    {
        int n = cm.NumClasses;
        int cell = n <= 10 ? 48 : n <= 30 ? 24 : 12;
        bool showCounts = cell >= 24;
        int labelW = Math.Min(160, 12 + 7 * Enumerable.Range(0, n).Max(i => ClassName(classNames, i).Length));
        int left = labelW + 24, top = labelW + 10;
        int width = left + n * cell + 20, height = top + n * cell + 36;
        var sb = new StringBuilder();
        sb.Append(CultureInfo.InvariantCulture, $"<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\" role=\"img\" aria-label=\"confusion matrix\">");
        sb.Append(CultureInfo.InvariantCulture, $"<rect width=\"{width}\" height=\"{height}\" fill=\"#fff\"/>");
        for (int i = 0; i < n; i++)
        {
            long support = cm.Support(i);
            string name = E(ClassName(classNames, i));
            double cy = top + i * cell + cell / 2.0;
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{left - 6}\" y=\"{C(cy + 4)}\" font-size=\"11\" text-anchor=\"end\">{name}</text>");
            double cx = left + i * cell + cell / 2.0;
            sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(cx)}\" y=\"{top - 6}\" font-size=\"11\" transform=\"rotate(-60 {C(cx)} {top - 6})\">{name}</text>");
            for (int j = 0; j < n; j++)
            {
                long v = cm[i, j];
                double share = support == 0 ? 0 : (double)v / support;
                // White → deep blue by share of the true class's samples.
                int r = (int)Math.Round(255 - share * (255 - 8)), g = (int)Math.Round(255 - share * (255 - 69)), b = (int)Math.Round(255 - share * (255 - 148));
                int x = left + j * cell, y = top + i * cell;
                sb.Append(CultureInfo.InvariantCulture, $"<rect x=\"{x}\" y=\"{y}\" width=\"{cell}\" height=\"{cell}\" fill=\"rgb({r},{g},{b})\" stroke=\"#fff\"><title>true {name}, predicted {E(ClassName(classNames, j))}: {v}</title></rect>");
                if (showCounts && v > 0)
                    sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(x + cell / 2.0)}\" y=\"{C(y + cell / 2.0 + 4)}\" font-size=\"11\" text-anchor=\"middle\" fill=\"{(share > 0.5 ? "#fff" : "#222")}\">{v}</text>");
            }
        }
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"{C(left + n * cell / 2.0)}\" y=\"{height - 10}\" font-size=\"12\" text-anchor=\"middle\">predicted</text>");
        sb.Append(CultureInfo.InvariantCulture, $"<text x=\"12\" y=\"{C(top + n * cell / 2.0)}\" font-size=\"12\" text-anchor=\"middle\" transform=\"rotate(-90 12 {C(top + n * cell / 2.0)})\">true</text>");
        sb.Append("</svg>\n");
        return sb.ToString();
    }
}
