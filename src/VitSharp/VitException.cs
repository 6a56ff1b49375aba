namespace VitSharp;

/// <summary>
/// An error caused by the user's input (a file, an option, a shape) rather than a bug.
/// The CLI prints <see cref="Exception.Message"/> on one line and exits non-zero, with no stack trace.
/// </summary>
public class VitException : Exception
{
    public VitException(string message) : base(message) { }
    public VitException(string message, Exception inner) : base(message, inner) { }
}

/// <summary>A tensor operation got arguments it cannot work with (shape, rank, layout).</summary>
public sealed class ShapeException : VitException
{
    public ShapeException(string message) : base(message) { }
}
