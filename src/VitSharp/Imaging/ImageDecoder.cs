using VitSharp.Imaging.Jpeg;
using VitSharp.Imaging.Png;

namespace VitSharp.Imaging;

/// <summary>
/// Decodes JPEG, PNG, BMP and PPM/PGM files to 8-bit <see cref="Image"/>s, choosing the format from the
/// file's magic bytes (never its extension). Output channels follow PIL's modes: L, LA, RGB or RGBA.
/// Any malformed, truncated, unsupported or oversized input raises <see cref="InvalidImageException"/>.
/// </summary>
public static class ImageDecoder
{
    public static Image Decode(ReadOnlySpan<byte> data, string? nameForErrors = null, DecodeOptions? options = null)
    {
        options ??= new DecodeOptions();
        try
        {
            if (data.Length >= 3 && data[0] == 0xFF && data[1] == 0xD8 && data[2] == 0xFF)
                return JpegDecoder.Decode(data, nameForErrors, options);
            if (data.Length >= 8 && data[..8].SequenceEqual(PngDecoder.Signature))
                return PngDecoder.Decode(data, nameForErrors, options);
            if (data.Length >= 2 && data[0] == 'B' && data[1] == 'M')
                return BmpDecoder.Decode(data, nameForErrors, options);
            if (data.Length >= 2 && data[0] == 'P' && data[1] is (byte)'1' or (byte)'2' or (byte)'3' or (byte)'4' or (byte)'5' or (byte)'6')
                return PnmDecoder.Decode(data, nameForErrors, options);
        }
        catch (InvalidImageException)
        {
            throw;
        }
        catch (Exception e) when (e is IndexOutOfRangeException or ArgumentException or InvalidDataException or OverflowException or InvalidOperationException)
        {
            // Defence in depth: the decoders validate every length and offset, but a malformed file must
            // still never surface as anything but a clear decode error.
            throw new InvalidImageException(nameForErrors, $"corrupt image data ({e.Message})", e);
        }
        if (data.Length == 0) throw new InvalidImageException(nameForErrors, "file is empty");
        throw new InvalidImageException(nameForErrors, "unknown image format (not JPEG, PNG, BMP or PPM/PGM)");
    }

    public static Image Load(string path, DecodeOptions? options = null)
    {
        byte[] data;
        try
        {
            data = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new InvalidImageException(path, $"cannot read file: {e.Message}", e);
        }
        return Decode(data, path, options);
    }
}
