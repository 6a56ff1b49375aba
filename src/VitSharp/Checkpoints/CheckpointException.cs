namespace VitSharp.Checkpoints;

/// <summary>
/// A checkpoint file could not be read or written: bad format, corrupt or truncated data, a refused pickle
/// global, an unsupported dtype. The message always names the file (and the key or record when known).
/// </summary>
public sealed class CheckpointException : VitException
{
    public string? FilePath { get; }

    public CheckpointException(string? path, string message)
        : base(path == null ? message : $"{path}: {message}") => FilePath = path;

    public CheckpointException(string? path, string message, Exception inner)
        : base(path == null ? message : $"{path}: {message}", inner) => FilePath = path;
}
