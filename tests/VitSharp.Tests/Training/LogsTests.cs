using VitSharp.Checkpoints;
using System.Buffers.Binary;
using System.Text;
using VitSharp.Training;
using VitSharp.Training.TensorBoard;

namespace VitSharp.Tests.Training;

public sealed class LogsTests : IDisposable
{
    private readonly string dir = Path.Combine(Path.GetTempPath(), "vitsharp-logs-" + Guid.NewGuid().ToString("N"));

    public LogsTests() => Directory.CreateDirectory(dir);

    public void Dispose() => Directory.Delete(dir, recursive: true);

    [Fact]
    public void Crc32c_known_values()
    {
        Assert.Equal(0xE3069283u, Crc32C.Compute("123456789"u8));
        Assert.Equal(0u, Crc32C.Compute([]));
        var ten = new byte[8];
        BinaryPrimitives.WriteUInt64LittleEndian(ten, 10);
        Assert.Equal(0x3ABFA3AEu, Crc32C.Masked(ten));
        // Odd lengths exercise the 8-byte body and the byte tail.
        var data = Enumerable.Range(0, 37).Select(i => (byte)(i * 7 + 1)).ToArray();
        Assert.Equal(BitwiseCrc(data), Crc32C.Compute(data));
    }

    private static uint BitwiseCrc(byte[] data)
    {
        uint crc = 0xFFFFFFFF;
        foreach (var b in data)
        {
            crc ^= b;
            for (int k = 0; k < 8; k++) crc = (crc >> 1) ^ ((crc & 1) != 0 ? 0x82F63B78u : 0);
        }
        return ~crc;
    }

    private static string FixturePath => Path.Combine(AppContext.BaseDirectory, "fixtures", "training", "events.out.tfevents.1700000000.fixture");

    [Fact]
    public void Reads_reference_event_file()
    {
        var events = EventReader.ReadEvents(FixturePath);
        Assert.Equal(4, events.Count);
        Assert.Equal("brain.Event:2", events[0].FileVersion);
        Assert.Equal(1700000000.0, events[0].WallTime);
        Assert.Equal(("train_loss", 2.25f), events[1].Scalars.Single());
        Assert.Equal(0, events[1].Step);
        Assert.Equal(3, events[2].Step);
        Assert.Equal(("val_acc", 0.875f), events[2].Scalars.Single());
        Assert.Equal(300, events[3].Step);
        Assert.Equal(1700000003.0, events[3].WallTime);
    }

    [Fact]
    public void Writer_output_is_byte_identical_to_reference()
    {
        var t0 = DateTimeOffset.FromUnixTimeSeconds(1700000000);
        string path;
        using (var w = new EventWriter(dir, t0))
        {
            path = w.FilePath;
            w.AddScalar("train_loss", 2.25f, 0, DateTimeOffset.FromUnixTimeMilliseconds(1700000001500));
            w.AddScalar("val_acc", 0.875f, 3, DateTimeOffset.FromUnixTimeMilliseconds(1700000002250));
            w.AddScalar("learning_rate", 1e-3f, 300, DateTimeOffset.FromUnixTimeMilliseconds(1700000003000));
        }
        Assert.StartsWith("events.out.tfevents.1700000000.", Path.GetFileName(path));
        Assert.Equal(File.ReadAllBytes(FixturePath), File.ReadAllBytes(path));

        // A second writer in the same second gets its own file.
        using var w2 = new EventWriter(dir, t0);
        Assert.NotEqual(path, w2.FilePath);
        Assert.Contains("tfevents", w2.FilePath);
    }

    [Fact]
    public void Reader_rejects_corruption()
    {
        var bytes = File.ReadAllBytes(FixturePath);
        foreach (int at in new[] { 3, 10, 20, bytes.Length - 2 })
        {
            var bad = (byte[])bytes.Clone();
            bad[at] ^= 0x40;
            var p = Path.Combine(dir, $"bad{at}.tfevents");
            File.WriteAllBytes(p, bad);
            Assert.Throws<InvalidDataException>(() => EventReader.ReadRecords(p));
        }
        var truncated = Path.Combine(dir, "trunc.tfevents");
        File.WriteAllBytes(truncated, bytes[..^3]);
        Assert.Throws<InvalidDataException>(() => EventReader.ReadRecords(truncated));
    }

    [Fact]
    public void Negative_and_large_steps_round_trip()
    {
        using (var w = new EventWriter(dir))
        {
            w.AddScalar("a", -1.5f, long.MaxValue);
            w.AddScalar("b", float.NaN, -7);
        }
        var ev = EventReader.ReadEvents(Directory.GetFiles(dir, "*tfevents*").Single());
        Assert.Equal(long.MaxValue, ev[1].Step);
        Assert.Equal(-7, ev[2].Step);
        Assert.True(float.IsNaN(ev[2].Scalars[0].Value));
    }

    [Fact]
    public void Atomic_write_replaces_whole_file_and_leaves_no_temporaries()
    {
        var p = Path.Combine(dir, "sub", "x.txt");
        AtomicFile.WriteAllText(p, "first");
        AtomicFile.WriteAllText(p, "second");
        Assert.Equal("second", File.ReadAllText(p));

        // A writer that fails half-way leaves the old content and no temporary file.
        Assert.Throws<InvalidOperationException>(() => AtomicFile.Write(p, s =>
        {
            s.Write("par"u8);
            throw new InvalidOperationException("killed");
        }));
        Assert.Equal("second", File.ReadAllText(p));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(p)!));

        File.WriteAllText(Path.Combine(dir, "sub", ".x.txt" + AtomicFile.TempMarker + "123-abc"), "stale");
        AtomicFile.RemoveStaleTemporaries(Path.Combine(dir, "sub"));
        Assert.Single(Directory.GetFiles(Path.GetDirectoryName(p)!));
    }

    [Fact]
    public void Metrics_csv_round_trips_and_truncates_on_resume()
    {
        var log = new MetricsLog();
        log.Add(new EpochMetrics(0, 1.5, 0.4, 1.2, 0.5, 0.001, 12.5));
        log.Add(new EpochMetrics(1, 1.0, 0.6, double.NaN, 0.7, 0.0005, 11.25));
        var p = Path.Combine(dir, "metrics.csv");
        log.Save(p);
        var lines = File.ReadAllLines(p);
        Assert.Equal(MetricsLog.Header, lines[0]);
        Assert.Equal("0,1.5,0.4,1.2,0.5,0.001,12.500", lines[1]);
        var back = MetricsLog.Load(p);
        Assert.Equal(2, back.Rows.Count);
        Assert.True(double.IsNaN(back.Rows[1].ValLoss));
        Assert.Equal(0.0005, back.Rows[1].Lr);
        back.TruncateFrom(1);
        Assert.Single(back.Rows);
        back.Add(new EpochMetrics(0, 9, 9, 9, 9, 9, 9)); // replacing an epoch drops later rows
        Assert.Equal(9, back.Rows.Single().TrainLoss);
    }

    [Fact]
    public void Confusion_matrix_metrics_and_rendering()
    {
        var m = new ClassificationMetrics(numClasses: 3, topK: 2);
        float[] logits =
        [
            3, 1, 0, // pred 0, label 0
            0, 2, 1, // pred 1, label 2 (label is 2nd best)
            0, 1, 2, // pred 2, label 0 (label is last)
            5, 5, 0, // tie: argmax 0, label 1 → top-2 hit
        ];
        m.Add(logits, [0, 2, 0, 1], meanLoss: 0.5);
        Assert.Equal(4, m.Count);
        Assert.Equal(0.25, m.Top1);
        Assert.Equal(0.75, m.TopKAccuracy);
        Assert.Equal(0.5, m.MeanLoss);
        var cm = m.Confusion;
        Assert.Equal(1, cm[0, 0]);
        Assert.Equal(1, cm[0, 2]);
        Assert.Equal(1, cm[2, 1]);
        Assert.Equal(1, cm[1, 0]);
        Assert.Equal([0.5, 0.0, 0.0], cm.PerClassAccuracy());
        var text = cm.Render(["daisy", "a-very-long-class-name", "tulips"]);
        var rows = text.TrimEnd('\n').Split('\n');
        Assert.Equal(4, rows.Length);
        Assert.All(rows, r => Assert.Equal(rows[0].Length, r.Length)); // aligned columns
        Assert.Contains("daisy", rows[1]);
        Assert.Contains("50.00%", rows[1]);
        Assert.Contains("a-very-long-c…", text);
        Assert.Throws<VitException>(() => cm.Add(3, 0));
    }

    [Fact]
    public void Report_is_self_contained_html_with_charts_and_heatmap()
    {
        var epochs = new List<EpochMetrics>
        {
            new(0, 1.5, 0.4, 1.2, 0.5, 0.001, 12.5),
            new(1, 1.0, 0.6, 0.9, 0.7, 0.0005, 11.2),
            new(2, 0.7, 0.8, double.NaN, 0.75, 0.0001, 11.0),
        };
        var cm = new ConfusionMatrix(2);
        cm.Add(0, 0); cm.Add(0, 1); cm.Add(1, 1);
        var p = Path.Combine(dir, "report.html");
        ReportHtml.Write(p, "Run <1>", epochs, cm, ["cats & dogs", "birds"], [("model", "vit_tiny")]);
        var html = File.ReadAllText(p, Encoding.UTF8);
        Assert.StartsWith("<!DOCTYPE html>", html);
        Assert.Equal(4, CountOf(html, "<svg ")); // loss, accuracy, lr, confusion
        Assert.Contains("<polyline", html);
        Assert.Contains("cats &amp; dogs", html);
        Assert.Contains("Run &lt;1&gt;", html);
        Assert.DoesNotContain("<script", html);
        Assert.DoesNotContain("http://", html.Replace("http://www.w3.org/2000/svg", "", StringComparison.Ordinal));
        Assert.DoesNotContain("https://", html);
        Assert.Contains("50.00%", html);
        Assert.Equal(CountOf(html, "<svg "), CountOf(html, "</svg>"));
    }

    private static int CountOf(string s, string what)
    {
        int n = 0;
        for (int i = s.IndexOf(what, StringComparison.Ordinal); i >= 0; i = s.IndexOf(what, i + 1, StringComparison.Ordinal)) n++;
        return n;
    }

    [Fact]
    public void Nice_steps()
    {
        Assert.Equal(0.2, ReportHtml.NiceStep(1.0), 12);
        Assert.Equal(20, ReportHtml.NiceStep(100), 12);
        Assert.Equal(0.0005, ReportHtml.NiceStep(0.0023), 12);
    }
}
