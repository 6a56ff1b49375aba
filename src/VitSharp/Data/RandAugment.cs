using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Data;

/// <summary>
/// torchvision RandAugment(num_ops N, magnitude M, 31 bins): N times, a uniformly chosen op from torchvision's
/// 14 (Identity, ShearX/Y, TranslateX/Y, Rotate, Brightness, Color, Contrast, Sharpness, Posterize, Solarize,
/// AutoContrast, Equalize) at bin M of its magnitude range, negated with probability ½ for signed ops; affine ops
/// use Pillow's nearest-neighbour transform with fill 0, colour ops Pillow's enhancers.
/// </summary>
public sealed class RandAugment : IImageTransform
{
    public static readonly string[] OpNames =
    [
        "Identity", "ShearX", "ShearY", "TranslateX", "TranslateY", "Rotate", "Brightness", "Color", "Contrast",
        "Sharpness", "Posterize", "Solarize", "AutoContrast", "Equalize",
    ];

    public int NumOps { get; }
    public int Magnitude { get; }
    public int NumBins { get; }

    public RandAugment(int numOps = 2, int magnitude = 9, int numBins = 31)
    {
        if (numOps < 0) throw new VitException($"RandAugment: number of ops {numOps} must be >= 0");
        if (numBins < 2 || magnitude < 0 || magnitude >= numBins)
            throw new VitException($"RandAugment: magnitude {magnitude} must be in 0..{numBins - 1}");
        NumOps = numOps; Magnitude = magnitude; NumBins = numBins;
    }

    /// <summary>
    /// torch.linspace(lo, hi, bins)[i] in float32 exactly as torch 1.13's CPU kernel produces it: float step;
    /// pairs of 8-lane vectors whose base (start + idx·step below halfway, end − (n−1−idx)·step above, fused
    /// multiply-add) is extended by k·step per lane; the tail past the last vector pair done per element.
    /// </summary>
    internal static double Linspace(double lo, double hi, int bins, int i)
    {
        float start = (float)lo, end = (float)hi, step = (end - start) / (bins - 1);
        int half = bins / 2;
        float Scalar(int idx) => idx < half
            ? MathF.FusedMultiplyAdd(step, idx, start)
            : MathF.FusedMultiplyAdd(-step, bins - idx - 1, end);
        const int lanes = 8;
        int vectorEnd = bins / (2 * lanes) * (2 * lanes);
        if (i >= vectorEnd) return Scalar(i);
        int baseIdx = i / lanes * lanes;
        return Scalar(baseIdx) + (i - baseIdx) * step;
    }

    /// <summary>Magnitude of <paramref name="op"/> at <paramref name="bin"/> and whether it takes a random sign.</summary>
    public static (double Value, bool Signed) MagnitudeOf(string op, int bin, int numBins, int height, int width) => op switch
    {
        "Identity" or "AutoContrast" or "Equalize" => (0.0, false),
        "ShearX" or "ShearY" => (Linspace(0, 0.3, numBins, bin), true),
        "TranslateX" => (Linspace(0, 150.0 / 331.0 * width, numBins, bin), true),
        "TranslateY" => (Linspace(0, 150.0 / 331.0 * height, numBins, bin), true),
        "Rotate" => (Linspace(0, 30, numBins, bin), true),
        "Brightness" or "Color" or "Contrast" or "Sharpness" => (Linspace(0, 0.9, numBins, bin), true),
        "Posterize" => (8 - (int)Math.Round(bin / ((numBins - 1) / 4.0), MidpointRounding.ToEven), false),
        "Solarize" => (Linspace(255, 0, numBins, bin), false),
        _ => throw new VitException($"RandAugment: unknown op '{op}'"),
    };

    public Image Apply(Image image, Rng rng)
    {
        for (int k = 0; k < NumOps; k++)
        {
            string op = OpNames[rng.NextInt(OpNames.Length)];
            var (m, signed) = MagnitudeOf(op, Magnitude, NumBins, image.Height, image.Width);
            if (signed && rng.NextInt(2) == 1) m = -m;
            image = ApplyOp(image, op, m);
        }
        return image;
    }

    /// <summary>One op at a fixed magnitude (torchvision's _apply_op with the PIL backend).</summary>
    public static Image ApplyOp(Image img, string op, double magnitude)
    {
        switch (op)
        {
            case "Identity": return img;
            case "ShearX":
                return ImageGeometry.Affine(img, 0, 0, 0, 1, Math.Atan(magnitude) * 180 / Math.PI, 0, 0, 0);
            case "ShearY":
                return ImageGeometry.Affine(img, 0, 0, 0, 1, 0, Math.Atan(magnitude) * 180 / Math.PI, 0, 0);
            case "TranslateX": return ImageGeometry.Affine(img, 0, (int)magnitude, 0, 1, 0, 0);
            case "TranslateY": return ImageGeometry.Affine(img, 0, 0, (int)magnitude, 1, 0, 0);
            case "Rotate": return ImageGeometry.Rotate(img, magnitude);
            case "Brightness": return ColorOps.AdjustBrightness(img, (float)(1.0 + magnitude));
            case "Color": return ColorOps.AdjustSaturation(img, (float)(1.0 + magnitude));
            case "Contrast": return ColorOps.AdjustContrast(img, (float)(1.0 + magnitude));
            case "Sharpness": return ColorOps.AdjustSharpness(img, (float)(1.0 + magnitude));
            case "Posterize": return ColorOps.Posterize(img, (int)magnitude);
            case "Solarize": return ColorOps.Solarize(img, magnitude);
            case "AutoContrast": return ColorOps.AutoContrast(img);
            case "Equalize": return ColorOps.Equalize(img);
            default: throw new VitException($"RandAugment: unknown op '{op}'");
        }
    }
}
