using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using VitSharp.Data;
using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Cli.Commands;

/// <summary>
/// `vit bench data`: decode + Resize(256) + CenterCrop(224) + ToTensor + Normalize images/s on real photos,
/// ours on one thread and on all cores, and Pillow + torchvision on one core in the same run when Debian's
/// python3 with PIL is present (a small inline script; skipped with a note otherwise).
/// </summary>
internal static class BenchDataCommand
{
    private const string PythonExe = "/usr/bin/python3";

    private static readonly string[] PhotoCandidates =
    [
        "/usr/lib/python3/dist-packages/sklearn/datasets/images/china.jpg",
        "/usr/lib/python3/dist-packages/sklearn/datasets/images/flower.jpg",
    ];

    internal static Command Build()
    {
        var json = new Option<bool>("--json") { Description = "Print one JSON object instead of a table." };
        var images = new Option<string?>("--images") { Description = "Folder of .jpg/.png photos to use (default: photos found on this machine)." };
        var seconds = new Option<double>("--seconds") { Description = "Timed seconds per measurement (default 3).", DefaultValueFactory = _ => 3.0 };
        var noPython = new Option<bool>("--no-python") { Description = "Skip the Pillow + torchvision comparison." };
        var cmd = new Command("data", "Image pipeline images/s (decode, Resize 256, CenterCrop 224, Normalize) vs Pillow + torchvision.");
        cmd.Options.Add(json);
        cmd.Options.Add(images);
        cmd.Options.Add(seconds);
        cmd.Options.Add(noPython);
        cmd.SetAction(parse =>
        {
            double s = parse.GetValue(seconds);
            if (!(s > 0)) throw new VitException($"bench data: --seconds must be positive, got {s}");
            Run(parse.GetValue(json), parse.GetValue(images), s, !parse.GetValue(noPython));
            return 0;
        });
        return cmd;
    }

    private static List<string> FindPhotos(string? dir, out string? tempDir, bool python)
    {
        tempDir = null;
        if (dir != null)
        {
            if (!Directory.Exists(dir)) throw new VitException($"bench data: --images folder '{dir}' does not exist");
            var files = Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories)
                .Where(f => f.EndsWith(".jpg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".jpeg", StringComparison.OrdinalIgnoreCase) || f.EndsWith(".png", StringComparison.OrdinalIgnoreCase))
                .OrderBy(f => f, StringComparer.Ordinal).Take(64).ToList();
            if (files.Count == 0) throw new VitException($"bench data: no .jpg/.jpeg/.png files in '{dir}'");
            return files;
        }
        var photos = PhotoCandidates.Where(File.Exists).ToList();
        if (photos.Count == 0) throw new VitException("bench data: no photos found on this machine; pass --images DIR");
        if (python && File.Exists(PythonExe))
        {
            // ImageNet-like variety from the real photos: crops of several sizes/aspects, re-encoded by libjpeg
            tempDir = Path.Combine(Path.GetTempPath(), "vit-bench-data-" + Environment.ProcessId);
            Directory.CreateDirectory(tempDir);
            const string script = """
import sys
from PIL import Image
out = sys.argv[1]
k = 0
for src in sys.argv[2:]:
    im = Image.open(src).convert("RGB")
    w, h = im.size
    for (cw, ch) in [(500, 375), (375, 500), (w, h), (333, 500), (480, 360)]:
        cw, ch = min(cw, w), min(ch, h)
        x, y = (w - cw) // 3, (h - ch) // 4
        im.crop((x, y, x + cw, y + ch)).save(f"{out}/photo_{k:02d}.jpg", quality=90)
        k += 1
""";
            var (code, _, _) = RunProcess(PythonExe, ["-c", script, tempDir, .. photos], 60);
            var made = Directory.GetFiles(tempDir, "*.jpg").OrderBy(f => f, StringComparer.Ordinal).ToList();
            if (code == 0 && made.Count > 0) return made;
        }
        return photos;
    }

    private static (int Code, string Out, string Err) RunProcess(string exe, IEnumerable<string> args, int timeoutSeconds)
    {
        var psi = new ProcessStartInfo(exe) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi) ?? throw new VitException($"could not start {exe}");
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutSeconds * 1000))
        {
            p.Kill(entireProcessTree: true);
            return (-1, "", "timed out");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    private const string PillowScript = """
import io, json, sys, time
from PIL import Image
import PIL
import torchvision, torchvision.transforms as T
secs = float(sys.argv[1])
blobs = [open(f, "rb").read() for f in sys.argv[2:]]
tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(), T.Normalize([0.5] * 3, [0.5] * 3)])
def one(b):
    return tf(Image.open(io.BytesIO(b)).convert("RGB"))
for b in blobs: one(b)
n, t0 = 0, time.perf_counter()
while True:
    for b in blobs:
        one(b)
        n += 1
    el = time.perf_counter() - t0
    if el >= secs: break
nd, t0 = 0, time.perf_counter()
while True:
    for b in blobs:
        Image.open(io.BytesIO(b)).convert("RGB").load()
        nd += 1
    eld = time.perf_counter() - t0
    if eld >= secs / 2: break
print(json.dumps({"ips": n / el, "decode_ips": nd / eld, "pillow": PIL.__version__, "torchvision": torchvision.__version__}))
""";

    private static double Measure(double seconds, Action once, out int count)
    {
        once(); // warm-up (JIT, caches)
        var sw = Stopwatch.StartNew();
        count = 0;
        while (sw.Elapsed.TotalSeconds < seconds) { once(); count++; }
        return count / sw.Elapsed.TotalSeconds;
    }

    private static void Run(bool json, string? dir, double seconds, bool python)
    {
        var files = FindPhotos(dir, out var temp, python);
        try
        {
            var blobs = files.Select(File.ReadAllBytes).ToArray();
            var pipeline = Transforms.EvalPreset(224, 256);
            var dst = new float[3 * 224 * 224];
            var rng = new Rng(0);
            int cursor = 0;
            void One(int i, float[] buffer)
            {
                var img = ConvertChannels.ToChannels(ImageDecoder.Decode(blobs[i % blobs.Length], files[i % files.Count]), 3);
                pipeline.ApplyInto(img, rng, buffer, 3, 224, 224);
            }

            // one thread: the per-core figure the issue's acceptance compares with Pillow
            double ours = Measure(seconds, () => One(cursor++, dst), out _);
            double decodeOnly = Measure(seconds / 2, () => ImageDecoder.Decode(blobs[cursor % blobs.Length], files[cursor++ % files.Count]), out _);

            // all cores: independent threads, as the DataLoader's workers run
            int threads = Environment.ProcessorCount;
            long done = 0;
            var sw = Stopwatch.StartNew();
            var workers = Enumerable.Range(0, threads).Select(t => new Thread(() =>
            {
                var buf = new float[3 * 224 * 224];
                int i = t;
                while (sw.Elapsed.TotalSeconds < seconds)
                {
                    var img = ConvertChannels.ToChannels(ImageDecoder.Decode(blobs[i % blobs.Length], files[i % files.Count]), 3);
                    pipeline.ApplyInto(img, new Rng(0), buf, 3, 224, 224);
                    i += threads;
                    Interlocked.Increment(ref done);
                }
            })).ToList();
            workers.ForEach(w => w.Start());
            workers.ForEach(w => w.Join());
            double parallel = done / sw.Elapsed.TotalSeconds;

            double? pil = null, pilDecode = null;
            string? pilVersion = null, note = null;
            if (!python) note = "skipped (--no-python)";
            else if (!File.Exists(PythonExe)) note = $"skipped: {PythonExe} not found";
            else
            {
                var (code, stdout, stderr) = RunProcess(PythonExe, ["-c", PillowScript, seconds.ToString(CultureInfo.InvariantCulture), .. files], (int)(seconds * 4) + 120);
                if (code == 0)
                {
                    var r = JsonDocument.Parse(stdout.Trim().Split('\n')[^1]).RootElement;
                    pil = r.GetProperty("ips").GetDouble();
                    pilDecode = r.GetProperty("decode_ips").GetDouble();
                    pilVersion = $"Pillow {r.GetProperty("pillow").GetString()}, torchvision {r.GetProperty("torchvision").GetString()}";
                }
                else note = "skipped: python3 with PIL/torchvision failed: " + stderr.Trim().Split('\n')[^1];
            }

            var avgPixels = blobs.Select((b, i) => ImageDecoder.Decode(b, files[i])).Average(im => (double)im.Width * im.Height);
            if (json)
            {
                var o = new Dictionary<string, object?>
                {
                    ["images"] = files.Count,
                    ["mean_megapixels"] = Math.Round(avgPixels / 1e6, 3),
                    ["pipeline"] = "decode + Resize(256, bilinear) + CenterCrop(224) + ToTensor + Normalize(0.5, 0.5)",
                    ["ours_images_per_second"] = Math.Round(ours, 2),
                    ["ours_decode_images_per_second"] = Math.Round(decodeOnly, 2),
                    ["ours_parallel_images_per_second"] = Math.Round(parallel, 2),
                    ["threads"] = threads,
                    ["pillow_images_per_second"] = pil is { } p ? Math.Round(p, 2) : null,
                    ["pillow_decode_images_per_second"] = pilDecode is { } pd ? Math.Round(pd, 2) : null,
                    ["ours_vs_pillow_per_core"] = pil is { } p2 ? Math.Round(ours / p2, 3) : null,
                    ["reference"] = pilVersion,
                    ["note"] = note,
                };
                Console.WriteLine(JsonSerializer.Serialize(o, new JsonSerializerOptions { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }));
                return;
            }
            Console.WriteLine($"{files.Count} photos, mean {avgPixels / 1e6:0.00} MP; decode + Resize(256) + CenterCrop(224) + ToTensor + Normalize");
            Console.WriteLine($"  VitSharp, 1 thread        {ours,8:0.0} img/s   (decode alone {decodeOnly:0.0} img/s)");
            Console.WriteLine($"  VitSharp, {threads} threads{new string(' ', Math.Max(0, 7 - threads.ToString(CultureInfo.InvariantCulture).Length))}       {parallel,8:0.0} img/s");
            if (pil is { } pv)
            {
                Console.WriteLine($"  Pillow+torchvision, 1 core{pv,7:0.0} img/s   (decode alone {pilDecode:0.0} img/s)  [{pilVersion}]");
                Console.WriteLine($"  ours / Pillow per core: {ours / pv:0.00}x");
            }
            else Console.WriteLine($"  Pillow+torchvision: {note}");
        }
        finally
        {
            if (temp != null) try { Directory.Delete(temp, true); } catch (IOException) { }
        }
    }
}
