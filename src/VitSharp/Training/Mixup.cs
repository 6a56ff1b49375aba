using VitSharp.Tensors;

namespace VitSharp.Training;

/// <summary>
/// Batch-level Mixup / CutMix as in timm's Mixup (mode "batch"): each sample is mixed with the sample at the
/// mirrored position of the batch; λ ~ Beta(α, α); CutMix pastes a box of area ≈ (1 − λ) and corrects λ to the
/// box actually pasted. Targets become λ·onehot(y) + (1 − λ)·onehot(flip(y)), both label-smoothed.
/// </summary>
public sealed class MixupCutmix
{
    public MixupCutmix(int numClasses, double mixupAlpha, double cutmixAlpha, double prob = 1.0, double switchProb = 0.5, double labelSmoothing = 0)
    {
        if (mixupAlpha < 0 || cutmixAlpha < 0) throw new VitException($"mixup/cutmix: alpha must be ≥ 0 (got {mixupAlpha}, {cutmixAlpha})");
        if (prob is < 0 or > 1) throw new VitException($"mixup/cutmix: probability {prob} is outside [0, 1]");
        if (labelSmoothing is < 0 or >= 1) throw new VitException($"label smoothing {labelSmoothing} is outside [0, 1)");
        NumClasses = numClasses;
        MixupAlpha = mixupAlpha;
        CutmixAlpha = cutmixAlpha;
        Prob = prob;
        SwitchProb = switchProb;
        LabelSmoothing = labelSmoothing;
    }

    public int NumClasses { get; }
    public double MixupAlpha { get; }
    public double CutmixAlpha { get; }
    public double Prob { get; }
    public double SwitchProb { get; }
    public double LabelSmoothing { get; }

    public bool Enabled => MixupAlpha > 0 || CutmixAlpha > 0;

    /// <summary>The λ of the last <see cref="Apply"/> (1 when nothing was mixed).</summary>
    public double LastLambda { get; private set; } = 1;

    /// <summary>Mixes <paramref name="images"/> (B, C, H, W, contiguous) in place and returns the soft targets (B, classes).</summary>
    public Tensor Apply(Tensor images, int[] labels, Rng rng)
    {
        if (images.Rank != 4 || !images.IsContiguous) throw new ShapeException($"mixup: images must be contiguous (B, C, H, W), got {images.ShapeString}");
        int b = images.Shape[0];
        if (labels.Length != b) throw new ShapeException($"mixup: {labels.Length} labels for a batch of {b}");
        double lam = 1;
        bool cutmix = false;
        if (Enabled && rng.NextDouble() < Prob)
        {
            if (MixupAlpha > 0 && CutmixAlpha > 0)
            {
                cutmix = rng.NextDouble() < SwitchProb;
                lam = SampleBeta(rng, cutmix ? CutmixAlpha : MixupAlpha);
            }
            else if (MixupAlpha > 0) lam = SampleBeta(rng, MixupAlpha);
            else { cutmix = true; lam = SampleBeta(rng, CutmixAlpha); }
        }
        if (lam < 1)
        {
            if (cutmix) lam = PasteBox(images, lam, rng);
            else Blend(images, (float)lam);
        }
        LastLambda = lam;
        return Targets(labels, lam);
    }

    /// <summary>Soft targets λ·smooth(onehot(y)) + (1 − λ)·smooth(onehot(flip(y))).</summary>
    public Tensor Targets(int[] labels, double lam)
    {
        int b = labels.Length, c = NumClasses;
        double off = LabelSmoothing / c, on = 1 - LabelSmoothing + off;
        var t = Tensor.Empty(b, c);
        var s = t.AsSpan();
        for (int i = 0; i < b; i++)
        {
            int y1 = labels[i], y2 = labels[b - 1 - i];
            if ((uint)y1 >= (uint)c) throw new VitException($"label {y1} outside [0, {c})");
            var row = s.Slice(i * c, c);
            row.Fill((float)off);
            row[y1] += (float)(lam * (on - off));
            row[y2] += (float)((1 - lam) * (on - off));
        }
        return t;
    }

    private static void Blend(Tensor images, float lam)
    {
        int b = images.Shape[0], per = images.Numel / Math.Max(b, 1);
        var x = images.AsSpan();
        var copy = Tensor.Empty(images.Shape);
        var src = copy.AsSpan();
        x.CopyTo(src);
        for (int i = 0; i < b; i++)
        {
            var dst = x.Slice(i * per, per);
            var other = src.Slice((b - 1 - i) * per, per);
            var own = src.Slice(i * per, per);
            for (int k = 0; k < per; k++) dst[k] = own[k] * lam + other[k] * (1 - lam);
        }
    }

    private static double PasteBox(Tensor images, double lam, Rng rng)
    {
        int b = images.Shape[0], ch = images.Shape[1], h = images.Shape[2], w = images.Shape[3];
        double ratio = Math.Sqrt(1 - lam);
        int cutH = (int)(h * ratio), cutW = (int)(w * ratio);
        int cy = rng.NextInt(h), cx = rng.NextInt(w);
        int y0 = Math.Clamp(cy - cutH / 2, 0, h), y1 = Math.Clamp(cy + cutH / 2, 0, h);
        int x0 = Math.Clamp(cx - cutW / 2, 0, w), x1 = Math.Clamp(cx + cutW / 2, 0, w);
        if (y1 > y0 && x1 > x0)
        {
            var x = images.AsSpan();
            var copy = Tensor.Empty(images.Shape);
            var src = copy.AsSpan();
            x.CopyTo(src);
            int plane = h * w, per = ch * plane;
            for (int i = 0; i < b; i++)
                for (int c = 0; c < ch; c++)
                    for (int yy = y0; yy < y1; yy++)
                    {
                        int rowOff = c * plane + yy * w + x0;
                        src.Slice((b - 1 - i) * per + rowOff, x1 - x0).CopyTo(x.Slice(i * per + rowOff, x1 - x0));
                    }
        }
        return 1 - (double)(y1 - y0) * (x1 - x0) / (h * w);
    }

    /// <summary>Beta(a, a) from two Gamma draws (Marsaglia–Tsang).</summary>
    public static double SampleBeta(Rng rng, double a)
    {
        double x = SampleGamma(rng, a), y = SampleGamma(rng, a);
        return x + y == 0 ? 0.5 : x / (x + y);
    }

    private static double SampleGamma(Rng rng, double a)
    {
        if (a < 1) return SampleGamma(rng, a + 1) * Math.Pow(1.0 - rng.NextDouble(), 1.0 / a);
        double d = a - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double z, v;
            do
            {
                z = rng.NextGaussian();
                v = 1 + c * z;
            } while (v <= 0);
            v = v * v * v;
            double u = 1.0 - rng.NextDouble();
            if (Math.Log(u) < 0.5 * z * z + d - d * v + d * Math.Log(v)) return d * v;
        }
    }
}
