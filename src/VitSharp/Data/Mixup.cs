using VitSharp.Tensors;

namespace VitSharp.Data;

/// <summary>
/// Batch-level Mixup / CutMix with soft targets, following timm's <c>Mixup</c> in batch mode: with probability
/// <see cref="Prob"/> a λ ~ Beta(α, α) is drawn (CutMix chosen with <see cref="SwitchProb"/> when both are on);
/// Mixup blends each image with the batch reversed, CutMix pastes a box of side ratio √(1−λ) from the reversed
/// batch and corrects λ to the pasted area; targets are λ·onehot(y) + (1−λ)·onehot(reversed y), smoothed.
/// </summary>
public sealed class MixupCutmix
{
    public double MixupAlpha { get; }
    public double CutmixAlpha { get; }
    public double Prob { get; }
    public double SwitchProb { get; }
    public double LabelSmoothing { get; }
    public int NumClasses { get; }
    public bool CorrectLambda { get; }

    public MixupCutmix(int numClasses, double mixupAlpha = 0.8, double cutmixAlpha = 1.0, double prob = 1.0,
        double switchProb = 0.5, double labelSmoothing = 0.1, bool correctLambda = true)
    {
        if (numClasses <= 0) throw new VitException($"mixup: number of classes {numClasses} must be positive");
        if (mixupAlpha < 0 || cutmixAlpha < 0) throw new VitException($"mixup: alphas ({mixupAlpha}, {cutmixAlpha}) must be >= 0");
        if (labelSmoothing is < 0 or >= 1) throw new VitException($"mixup: label smoothing {labelSmoothing} not in [0, 1)");
        NumClasses = numClasses; MixupAlpha = mixupAlpha; CutmixAlpha = cutmixAlpha; Prob = prob;
        SwitchProb = switchProb; LabelSmoothing = labelSmoothing; CorrectLambda = correctLambda;
    }

    /// <summary>The λ and mode chosen for one batch, and the CutMix box when used.</summary>
    public readonly record struct Decision(double Lambda, bool Cutmix, int Y0, int Y1, int X0, int X1);

    /// <summary>
    /// Mixes <paramref name="images"/> (B,C,H,W, contiguous) in place and returns soft targets (B × classes,
    /// row-major). Draws only from <paramref name="rng"/>.
    /// </summary>
    public float[] Apply(Tensor images, ReadOnlySpan<int> labels, Rng rng, out Decision decision)
    {
        if (images.Rank != 4 || !images.IsContiguous) throw new ShapeException($"mixup: images must be a contiguous (B,C,H,W) tensor, got {images.ShapeString}");
        int b = images.Shape[0], c = images.Shape[1], h = images.Shape[2], w = images.Shape[3];
        if (labels.Length != b) throw new ShapeException($"mixup: {labels.Length} labels for a batch of {b}");
        decision = Decide(h, w, rng);
        var x = images.AsSpan();
        int per = c * h * w;
        if (decision.Lambda < 1.0)
        {
            var orig = x.ToArray(); // reversed-batch source must be the unmixed images
            if (decision.Cutmix)
            {
                for (int i = 0; i < b; i++)
                {
                    int j = b - 1 - i;
                    for (int ch = 0; ch < c; ch++)
                        for (int y = decision.Y0; y < decision.Y1; y++)
                        {
                            int row = ch * h * w + y * w;
                            orig.AsSpan(j * per + row + decision.X0, decision.X1 - decision.X0)
                                .CopyTo(x.Slice(i * per + row + decision.X0));
                        }
                }
            }
            else
            {
                float lam = (float)decision.Lambda, rest = 1f - lam;
                for (int i = 0; i < b; i++)
                {
                    int j = b - 1 - i;
                    for (int k = 0; k < per; k++) x[i * per + k] = orig[i * per + k] * lam + orig[j * per + k] * rest;
                }
            }
        }
        return Targets(labels, NumClasses, decision.Lambda, LabelSmoothing);
    }

    /// <summary>timm's mixup_target: smoothed one-hot of y and of the reversed batch, blended by λ.</summary>
    public static float[] Targets(ReadOnlySpan<int> labels, int numClasses, double lambda, double smoothing)
    {
        int b = labels.Length;
        double off = smoothing / numClasses, on = 1.0 - smoothing + off;
        var t = new float[b * numClasses];
        for (int i = 0; i < b; i++)
        {
            int y1 = labels[i], y2 = labels[b - 1 - i];
            if ((uint)y1 >= (uint)numClasses) throw new VitException($"label {y1} out of range for {numClasses} classes");
            for (int k = 0; k < numClasses; k++)
            {
                double v1 = k == y1 ? on : off, v2 = k == y2 ? on : off;
                t[i * numClasses + k] = (float)(v1 * lambda + v2 * (1 - lambda));
            }
        }
        return t;
    }

    private Decision Decide(int h, int w, Rng rng)
    {
        double lam = 1.0;
        bool cut = false;
        if ((MixupAlpha > 0 || CutmixAlpha > 0) && rng.NextDouble() < Prob)
        {
            if (MixupAlpha > 0 && CutmixAlpha > 0)
            {
                cut = rng.NextDouble() < SwitchProb;
                lam = SampleBeta(rng, cut ? CutmixAlpha : MixupAlpha);
            }
            else if (MixupAlpha > 0) lam = SampleBeta(rng, MixupAlpha);
            else { cut = true; lam = SampleBeta(rng, CutmixAlpha); }
        }
        if (lam >= 1.0 || !cut) return new Decision(lam, false, 0, 0, 0, 0);
        // timm rand_bbox: cut sides int(H·√(1−λ)), centre uniform in the image, box clipped
        double ratio = Math.Sqrt(1 - lam);
        int cutH = (int)(h * ratio), cutW = (int)(w * ratio);
        int cy = rng.NextInt(h), cx = rng.NextInt(w);
        int y0 = Math.Clamp(cy - cutH / 2, 0, h), y1 = Math.Clamp(cy + cutH / 2, 0, h);
        int x0 = Math.Clamp(cx - cutW / 2, 0, w), x1 = Math.Clamp(cx + cutW / 2, 0, w);
        if (CorrectLambda) lam = 1.0 - (double)(y1 - y0) * (x1 - x0) / ((double)h * w);
        return new Decision(lam, true, y0, y1, x0, x1);
    }

    /// <summary>Beta(α, α) as X/(X+Y) with X, Y ~ Gamma(α).</summary>
    public static double SampleBeta(Rng rng, double alpha)
    {
        double x = SampleGamma(rng, alpha), y = SampleGamma(rng, alpha);
        return x + y == 0 ? 0.5 : x / (x + y);
    }

    /// <summary>Marsaglia–Tsang Gamma(α, 1); α &lt; 1 boosted by U^(1/α).</summary>
    public static double SampleGamma(Rng rng, double alpha)
    {
        if (alpha < 1)
        {
            double u = rng.NextDouble();
            return SampleGamma(rng, alpha + 1) * Math.Pow(u, 1 / alpha);
        }
        double d = alpha - 1.0 / 3, c = 1 / Math.Sqrt(9 * d);
        while (true)
        {
            double xg, v;
            do { xg = rng.NextGaussian(); v = 1 + c * xg; } while (v <= 0);
            v = v * v * v;
            double u = rng.NextDouble();
            if (u < 1 - 0.0331 * xg * xg * xg * xg) return d * v;
            if (Math.Log(u) < 0.5 * xg * xg + d * (1 - v + Math.Log(v))) return d * v;
        }
    }
}
