namespace VitSharp.Imaging;

/// <summary>Limits and behaviour for <see cref="ImageDecoder"/>.</summary>
public sealed class DecodeOptions
{
    /// <summary>Images with more pixels are refused before any pixel buffer is allocated.
    /// The default is PIL's DecompressionBombError threshold (2 × 89,478,485).</summary>
    public long MaxPixels { get; set; } = 178956970;

    /// <summary>Rotate/flip JPEGs by their EXIF orientation tag, as PIL's ImageOps.exif_transpose does.</summary>
    public bool ApplyExifOrientation { get; set; } = true;

}
