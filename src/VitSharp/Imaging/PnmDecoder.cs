namespace VitSharp.Imaging;

internal static class PnmDecoder
{
    public static Image Decode(ReadOnlySpan<byte> data, string? name, DecodeOptions opt) => throw new InvalidImageException(name, "PNM: not yet");
}
