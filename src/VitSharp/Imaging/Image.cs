namespace VitSharp.Imaging;

/// <summary>
/// An 8-bit image: rows of interleaved channels (HWC). Channels: 1 = L (gray), 2 = LA, 3 = RGB, 4 = RGBA.
/// </summary>
public sealed class Image
{
    public int Width { get; }
    public int Height { get; }
    public int Channels { get; }

    /// <summary>Height × Width × Channels bytes, row-major.</summary>
    public byte[] Pixels { get; }

    public Image(int width, int height, int channels, byte[]? pixels = null)
    {
        if (width <= 0 || height <= 0) throw new ArgumentOutOfRangeException(nameof(width), $"image size {width}x{height} must be positive");
        if (channels is < 1 or > 4) throw new ArgumentOutOfRangeException(nameof(channels), $"{channels} channels; 1..4 supported");
        long n = (long)width * height * channels;
        if (n > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(width), $"image {width}x{height}x{channels} too large");
        pixels ??= new byte[n];
        if (pixels.Length != n) throw new ArgumentException($"pixel buffer holds {pixels.Length} bytes, {width}x{height}x{channels} needs {n}", nameof(pixels));
        Width = width;
        Height = height;
        Channels = channels;
        Pixels = pixels;
    }

    public int Stride => Width * Channels;
}
