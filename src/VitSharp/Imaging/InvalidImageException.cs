namespace VitSharp.Imaging;

/// <summary>
/// An image file that cannot be decoded: corrupt, truncated, unsupported or over the pixel limit.
/// The message names the file (or "&lt;memory&gt;") and what is wrong, on one line.
/// </summary>
public sealed class InvalidImageException : VitException
{
    public string FileName { get; }

    public InvalidImageException(string? fileName, string problem)
        : base($"{fileName ?? "<memory>"}: {problem}")
    {
        FileName = fileName ?? "<memory>";
    }

    public InvalidImageException(string? fileName, string problem, Exception inner)
        : base($"{fileName ?? "<memory>"}: {problem}", inner)
    {
        FileName = fileName ?? "<memory>";
    }
}
