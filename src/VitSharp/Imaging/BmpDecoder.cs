namespace VitSharp.Imaging;

internal static class BmpDecoder
{
    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt) => throw new InvalidImageException(name, "BMP: not yet");
}
