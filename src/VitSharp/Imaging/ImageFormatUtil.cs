namespace VitSharp.Imaging;

/// <summary>Shared helpers for the decoders: limit checks that run before any allocation.</summary>
internal static class ImageFormatUtil
{
    public static void CheckSize(string? name, string format, long width, long height, DecodeOptions options)
    {
        if (width <= 0 || height <= 0)
            throw new InvalidImageException(name, $"{format} header gives an empty image size {width}x{height}");
        if (width > 1 << 24 || height > 1 << 24)
            throw new InvalidImageException(name, $"{format} image size {width}x{height} is implausible");
        long pixels = width * height;
        if (pixels > options.MaxPixels)
            throw new InvalidImageException(name, $"{format} image {width}x{height} has {pixels} pixels, over the limit of {options.MaxPixels}");
        if (pixels * 4 > int.MaxValue)
            throw new InvalidImageException(name, $"{format} image {width}x{height} is too large for one buffer");
    }
}
