using VitSharp.Imaging;
using VitSharp.Tensors;

namespace VitSharp.Data;

/// <summary>A step on 8-bit images (resize, crop, flip, RandAugment...). Random steps draw only from <paramref name="rng"/>.</summary>
public interface IImageTransform
{
    Image Apply(Image image, Rng rng);
}

/// <summary>A step on a CHW float image after ToTensor (Normalize, RandomErasing), in place.</summary>
public interface ITensorTransform
{
    void Apply(Span<float> chw, int channels, int height, int width, Rng rng);
}

/// <summary>
/// A pipeline like torchvision's <c>Compose</c>: image steps, then ToTensor (CHW, /255), then tensor steps.
/// Deterministic for a given <see cref="Rng"/> state; thread-safe (steps hold no mutable state), so one instance
/// serves every loader worker.
/// </summary>
public sealed class Compose
{
    public IReadOnlyList<IImageTransform> ImageSteps { get; }
    public IReadOnlyList<ITensorTransform> TensorSteps { get; }

    public Compose(IEnumerable<IImageTransform> imageSteps, IEnumerable<ITensorTransform>? tensorSteps = null)
    {
        ImageSteps = imageSteps.ToArray();
        TensorSteps = tensorSteps?.ToArray() ?? [];
    }

    /// <summary>Runs only the image steps.</summary>
    public Image ApplyImage(Image image, Rng rng)
    {
        foreach (var t in ImageSteps) image = t.Apply(image, rng);
        return image;
    }

    /// <summary>Runs every step; returns CHW floats and their shape.</summary>
    public (float[] Data, int C, int H, int W) Apply(Image image, Rng rng)
    {
        var img = ApplyImage(image, rng);
        var data = new float[img.Channels * img.Height * img.Width];
        ToTensor.Write(img, data);
        foreach (var t in TensorSteps) t.Apply(data, img.Channels, img.Height, img.Width, rng);
        return (data, img.Channels, img.Height, img.Width);
    }

    /// <summary>Runs every step writing into <paramref name="dst"/> (e.g. one slot of a batch); the shape must match.</summary>
    public void ApplyInto(Image image, Rng rng, Span<float> dst, int channels, int height, int width)
    {
        var img = ApplyImage(image, rng);
        if (img.Channels != channels || img.Height != height || img.Width != width)
            throw new VitException($"transform produced {img.Channels}x{img.Height}x{img.Width}, batch slot is {channels}x{height}x{width} (add a Resize/CenterCrop to a fixed size)");
        ToTensor.Write(img, dst);
        foreach (var t in TensorSteps) t.Apply(dst, channels, height, width, rng);
    }

    /// <summary>Runs every step and returns a (C,H,W) tensor owned by the GC (outside any TensorScope).</summary>
    public Tensor ApplyToTensor(Image image, Rng rng)
    {
        var (data, c, h, w) = Apply(image, rng);
        using (TensorScope.Suspend())
            return new Tensor(Storage.Wrap(data), [c, h, w]);
    }
}

/// <summary>Factories and presets (the tutorials' pipelines).</summary>
public static class Transforms
{
    public static readonly float[] HalfMean = [0.5f, 0.5f, 0.5f];
    public static readonly float[] HalfStd = [0.5f, 0.5f, 0.5f];
    public static readonly float[] ImageNetMean = [0.485f, 0.456f, 0.406f];
    public static readonly float[] ImageNetStd = [0.229f, 0.224f, 0.225f];

    /// <summary>RandomResizedCrop(size) + RandomHorizontalFlip [+ RandAugment] + ToTensor + Normalize [+ RandomErasing].</summary>
    public static Compose TrainPreset(int size, float[]? mean = null, float[]? std = null, (int N, int M)? randAugment = null,
        float erasing = 0f, ResampleFilter filter = ResampleFilter.Bilinear, int? width = null, double minScale = 0.08)
    {
        var steps = new List<IImageTransform>
        {
            new RandomResizedCrop(size, width ?? size, minScale, 1.0, filter: filter),
            new RandomHorizontalFlip(),
        };
        if (randAugment is { } ra) steps.Add(new RandAugment(ra.N, ra.M));
        var tsteps = new List<ITensorTransform> { new Normalize(mean ?? HalfMean, std ?? HalfStd) };
        if (erasing > 0) tsteps.Add(new RandomErasing(erasing));
        return new Compose(steps, tsteps);
    }

    /// <summary>
    /// timm's eval transform from a crop fraction: shorter side to floor(size / cropPct) (e.g. 224 / 0.9 → 248),
    /// centre crop, normalise; Google-derived ViT weights use bicubic and 0.5/0.5.
    /// </summary>
    public static Compose EvalPresetCropPct(int size, double cropPct = 0.9, ResampleFilter filter = ResampleFilter.Bicubic,
        float[]? mean = null, float[]? std = null)
    {
        if (cropPct is <= 0 or > 1) throw new VitException($"crop fraction {cropPct} must be in (0, 1]");
        return EvalPreset(size, (int)Math.Floor(size / cropPct), mean, std, filter);
    }

    /// <summary>Only ToTensor + Normalize (images already at model size, e.g. 28×28 Fashion-MNIST).</summary>
    public static Compose Normalized(float[]? mean = null, float[]? std = null) =>
        new([], [new Normalize(mean ?? HalfMean, std ?? HalfStd)]);

    /// <summary>Resize(shorter side = resizeTo, default size·256/224) + CenterCrop(size) + ToTensor + Normalize.</summary>
    public static Compose EvalPreset(int size, int? resizeTo = null, float[]? mean = null, float[]? std = null,
        ResampleFilter filter = ResampleFilter.Bilinear, int? width = null)
    {
        int r = resizeTo ?? size * 256 / 224;
        return new Compose(
            [new Resize(r, filter), new CenterCrop(size, width ?? size)],
            [new Normalize(mean ?? HalfMean, std ?? HalfStd)]);
    }
}

/// <summary>torchvision Resize: an int resizes the shorter side (aspect kept, long side truncated), (h, w) is exact.</summary>
public sealed class Resize : IImageTransform
{
    public int? ShortSide { get; }
    public (int H, int W)? Size { get; }
    public int? MaxSize { get; }
    public ResampleFilter Filter { get; }

    public Resize(int shortSide, ResampleFilter filter = ResampleFilter.Bilinear, int? maxSize = null)
    {
        if (shortSide <= 0) throw new VitException($"Resize: size {shortSide} must be positive");
        ShortSide = shortSide; Filter = filter; MaxSize = maxSize;
    }

    public Resize(int height, int width, ResampleFilter filter = ResampleFilter.Bilinear)
    {
        if (height <= 0 || width <= 0) throw new VitException($"Resize: size {height}x{width} must be positive");
        Size = (height, width); Filter = filter;
    }

    /// <summary>torchvision's _compute_resized_output_size.</summary>
    public static (int H, int W) OutputSize(int h, int w, int size, int? maxSize = null)
    {
        int shortSide = Math.Min(w, h), longSide = Math.Max(w, h);
        int newShort = size, newLong = (int)((double)((long)size * longSide) / shortSide);
        if (maxSize is { } m && newLong > m)
        {
            newShort = (int)((double)((long)m * newShort) / newLong);
            newLong = m;
        }
        return w <= h ? (newLong, newShort) : (newShort, newLong);
    }

    public Image Apply(Image image, Rng rng)
    {
        var (h, w) = Size ?? OutputSize(image.Height, image.Width, ShortSide!.Value, MaxSize);
        if (h == image.Height && w == image.Width) return image;
        return ImageResize.Resize(image, w, h, Filter);
    }
}

/// <summary>torchvision CenterCrop: zero-pads when the crop is larger, offsets rounded half-to-even like Python's round.</summary>
public sealed class CenterCrop(int height, int width) : IImageTransform
{
    public CenterCrop(int size) : this(size, size) { }

    public int Height { get; } = height > 0 ? height : throw new VitException($"CenterCrop: height {height} must be positive");
    public int Width { get; } = width > 0 ? width : throw new VitException($"CenterCrop: width {width} must be positive");

    public Image Apply(Image image, Rng rng) => Crop(image, Height, Width);

    public static Image Crop(Image image, int ch, int cw)
    {
        int ih = image.Height, iw = image.Width;
        if (cw > iw || ch > ih)
        {
            int l = cw > iw ? (cw - iw) / 2 : 0, t = ch > ih ? (ch - ih) / 2 : 0;
            int r = cw > iw ? (cw - iw + 1) / 2 : 0, b = ch > ih ? (ch - ih + 1) / 2 : 0;
            image = ImageGeometry.Pad(image, l, t, r, b);
            ih = image.Height; iw = image.Width;
            if (cw == iw && ch == ih) return image;
        }
        int top = (int)Math.Round((ih - ch) / 2.0, MidpointRounding.ToEven);
        int left = (int)Math.Round((iw - cw) / 2.0, MidpointRounding.ToEven);
        return ImageGeometry.Crop(image, left, top, cw, ch);
    }
}

/// <summary>
/// torchvision RandomResizedCrop: up to 10 tries of area fraction U(scale) and log-uniform aspect ratio, sides
/// rounded half-to-even, accepted when inside the image; else a central crop clamped to the ratio range; then
/// crop and resize to the output size.
/// </summary>
public sealed class RandomResizedCrop(int height, int width, double scaleMin = 0.08, double scaleMax = 1.0,
    double ratioMin = 3.0 / 4.0, double ratioMax = 4.0 / 3.0, ResampleFilter filter = ResampleFilter.Bilinear) : IImageTransform
{
    public RandomResizedCrop(int size) : this(size, size) { }

    public int Height { get; } = height;
    public int Width { get; } = width;
    public ResampleFilter Filter { get; } = filter;

    /// <summary>The crop (top, left, height, width) torchvision's get_params would choose for these draws.</summary>
    public static (int Top, int Left, int H, int W) GetParams(int imgH, int imgW, Rng rng, double scaleMin, double scaleMax, double ratioMin, double ratioMax)
    {
        double area = (double)imgH * imgW;
        double logLo = Math.Log(ratioMin), logHi = Math.Log(ratioMax);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double target = area * (scaleMin + (scaleMax - scaleMin) * rng.NextDouble());
            double aspect = Math.Exp(logLo + (logHi - logLo) * rng.NextDouble());
            int w = (int)Math.Round(Math.Sqrt(target * aspect), MidpointRounding.ToEven);
            int h = (int)Math.Round(Math.Sqrt(target / aspect), MidpointRounding.ToEven);
            if (w > 0 && w <= imgW && h > 0 && h <= imgH)
            {
                int i = rng.NextInt(imgH - h + 1);
                int j = rng.NextInt(imgW - w + 1);
                return (i, j, h, w);
            }
        }
        return Fallback(imgH, imgW, ratioMin, ratioMax);
    }

    /// <summary>The central crop used when no try fits.</summary>
    public static (int Top, int Left, int H, int W) Fallback(int imgH, int imgW, double ratioMin, double ratioMax)
    {
        double inRatio = (double)imgW / imgH;
        int cw, ch;
        if (inRatio < Math.Min(ratioMin, ratioMax))
        {
            cw = imgW;
            ch = (int)Math.Round(cw / Math.Min(ratioMin, ratioMax), MidpointRounding.ToEven);
        }
        else if (inRatio > Math.Max(ratioMin, ratioMax))
        {
            ch = imgH;
            cw = (int)Math.Round(ch * Math.Max(ratioMin, ratioMax), MidpointRounding.ToEven);
        }
        else
        {
            cw = imgW;
            ch = imgH;
        }
        return ((imgH - ch) / 2, (imgW - cw) / 2, ch, cw);
    }

    /// <summary>torchvision F.resized_crop: crop first (so the filter never reads outside the crop), then resize.</summary>
    public static Image ResizedCrop(Image image, int top, int left, int h, int w, int outH, int outW, ResampleFilter filter)
    {
        var crop = ImageGeometry.Crop(image, left, top, w, h);
        return crop.Width == outW && crop.Height == outH ? crop : ImageResize.Resize(crop, outW, outH, filter);
    }

    public Image Apply(Image image, Rng rng)
    {
        var (i, j, h, w) = GetParams(image.Height, image.Width, rng, scaleMin, scaleMax, ratioMin, ratioMax);
        return ResizedCrop(image, i, j, h, w, Height, Width, Filter);
    }
}

/// <summary>
/// torchvision's RandomCrop(size, padding): zero-pad every side by <paramref name="padding"/>, then crop
/// height×width at a uniform position (top drawn first, then left). The usual small-image augmentation
/// (CIFAR / Fashion-MNIST: 28×28 with padding 2–4): shifts the object by up to <paramref name="padding"/> pixels.
/// </summary>
public sealed class RandomCrop(int height, int width, int padding = 0) : IImageTransform
{
    public Image Apply(Image image, Rng rng)
    {
        int rangeY = image.Height + 2 * padding - height, rangeX = image.Width + 2 * padding - width;
        if (rangeY < 0 || rangeX < 0)
            throw new VitException($"random crop {height}x{width} (padding {padding}) is larger than the {image.Height}x{image.Width} image");
        int top = rng.NextInt(rangeY + 1), left = rng.NextInt(rangeX + 1);
        // Crop fills outside the source with zeros, which is the padding.
        return ImageGeometry.Crop(image, left - padding, top - padding, width, height);
    }
}

/// <summary>Mirror left↔right with probability <paramref name="p"/>.</summary>
public sealed class RandomHorizontalFlip(double p = 0.5) : IImageTransform
{
    public Image Apply(Image image, Rng rng) => rng.NextDouble() < p ? ImageGeometry.FlipHorizontal(image) : image;
}

/// <summary>Converts channels: 3 = RGB (gray replicated, alpha dropped), 1 = gray (Pillow luma).</summary>
public sealed class ConvertChannels(int channels) : IImageTransform
{
    public Image Apply(Image image, Rng rng) => ToChannels(image, channels);

    /// <summary>PIL's convert("RGB") (gray replicated, alpha dropped) or convert("L").</summary>
    public static Image ToChannels(Image image, int channels) => channels switch
    {
        _ when image.Channels == channels => image,
        3 => ImageConvert.ToRgb(image),
        1 => ImageConvert.ToGray(image),
        _ => throw new VitException($"cannot convert a {image.Channels}-channel image to {channels} channels"),
    };
}

/// <summary>ToTensor: HWC bytes → CHW floats in [0, 1].</summary>
public static class ToTensor
{
    public static void Write(Image img, Span<float> dst)
    {
        int c = img.Channels, hw = img.Width * img.Height;
        if (dst.Length < c * hw) throw new ArgumentException($"ToTensor: destination holds {dst.Length} floats, image needs {c * hw}");
        var p = img.Pixels;
        // divide (not multiply by 1/255) so values are bit-identical to torchvision's img.float().div(255)
        if (c == 1)
        {
            for (int i = 0; i < hw; i++) dst[i] = p[i] / 255f;
            return;
        }
        for (int k = 0; k < c; k++)
        {
            var plane = dst.Slice(k * hw, hw);
            for (int i = 0, s = k; i < hw; i++, s += c) plane[i] = p[s] / 255f;
        }
    }
}

/// <summary>(x − mean) / std per channel, computed as torchvision does (subtract, then divide).</summary>
public sealed class Normalize : ITensorTransform
{
    public float[] Mean { get; }
    public float[] Std { get; }

    public Normalize(float[] mean, float[] std)
    {
        if (mean.Length != std.Length || mean.Length == 0) throw new VitException($"Normalize: {mean.Length} means and {std.Length} stds");
        if (std.Any(s => s == 0)) throw new VitException("Normalize: std must be non-zero");
        Mean = mean; Std = std;
    }

    public void Apply(Span<float> chw, int channels, int height, int width, Rng rng)
    {
        int hw = height * width;
        for (int c = 0; c < channels; c++)
        {
            // one mean/std serves every channel of a gray image when a 3-channel preset is used
            float m = Mean[Mean.Length == channels ? c : Math.Min(c, Mean.Length - 1)];
            float s = Std[Std.Length == channels ? c : Math.Min(c, Std.Length - 1)];
            var span = chw.Slice(c * hw, hw);
            // subtract then divide, element-wise IEEE ops: bit-identical to torchvision's sub_/div_
            int i = 0;
            if (System.Numerics.Vector.IsHardwareAccelerated)
            {
                var vm = new System.Numerics.Vector<float>(m);
                var vs = new System.Numerics.Vector<float>(s);
                int n = System.Numerics.Vector<float>.Count;
                for (; i + n <= span.Length; i += n)
                {
                    var v = new System.Numerics.Vector<float>(span.Slice(i, n));
                    ((v - vm) / vs).CopyTo(span.Slice(i, n));
                }
            }
            for (; i < span.Length; i++) span[i] = (span[i] - m) / s;
        }
    }
}

/// <summary>
/// torchvision RandomErasing on the normalised tensor: with probability p, up to 10 tries of an area fraction
/// U(scale) and log-uniform ratio; the box must fit strictly inside; filled with <see cref="Value"/> or, when
/// <see cref="RandomValues"/>, standard normal noise.
/// </summary>
public sealed class RandomErasing(double p = 0.5, double scaleMin = 0.02, double scaleMax = 0.33,
    double ratioMin = 0.3, double ratioMax = 3.3, float value = 0f, bool randomValues = false) : ITensorTransform
{
    public float Value { get; } = value;
    public bool RandomValues { get; } = randomValues;

    public void Apply(Span<float> chw, int channels, int height, int width, Rng rng)
    {
        if (rng.NextDouble() >= p) return;
        double area = (double)height * width, logLo = Math.Log(ratioMin), logHi = Math.Log(ratioMax);
        for (int attempt = 0; attempt < 10; attempt++)
        {
            double erase = area * (scaleMin + (scaleMax - scaleMin) * rng.NextDouble());
            double aspect = Math.Exp(logLo + (logHi - logLo) * rng.NextDouble());
            int h = (int)Math.Round(Math.Sqrt(erase * aspect), MidpointRounding.ToEven);
            int w = (int)Math.Round(Math.Sqrt(erase / aspect), MidpointRounding.ToEven);
            if (!(h < height && w < width)) continue;
            int i = rng.NextInt(height - h + 1), j = rng.NextInt(width - w + 1);
            for (int c = 0; c < channels; c++)
                for (int y = i; y < i + h; y++)
                {
                    var row = chw.Slice(c * height * width + y * width + j, w);
                    if (RandomValues) for (int x = 0; x < w; x++) row[x] = (float)rng.NextGaussian();
                    else row.Fill(Value);
                }
            return;
        }
    }
}

/// <summary>Applies an image step with probability p.</summary>
public sealed class RandomApply(IImageTransform inner, double p) : IImageTransform
{
    public Image Apply(Image image, Rng rng) => rng.NextDouble() < p ? inner.Apply(image, rng) : image;
}

/// <summary>A function as an image step (for ad-hoc pipelines).</summary>
public sealed class LambdaTransform(Func<Image, Rng, Image> f) : IImageTransform
{
    public Image Apply(Image image, Rng rng) => f(image, rng);
}
