namespace TStitch.Hosting.Errors;

/// <summary>A failure of a known <see cref="FailureKind"/>; services answer it with that kind's status and this message.</summary>
public class ServiceFailureException(FailureKind kind, string message, Exception? inner = null) : Exception(message, inner)
{
    public FailureKind Kind { get; } = kind;
}
