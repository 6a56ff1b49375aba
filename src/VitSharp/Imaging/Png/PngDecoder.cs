namespace VitSharp.Imaging.Png;

internal static class PngDecoder
{
    public static ReadOnlySpan<byte> Signature => [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A];

    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt) => throw new InvalidImageException(name, "PNG: not yet");
}
