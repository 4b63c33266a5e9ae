namespace TStitch.Sampling;

/// <summary>
/// A request that breaks one of this project's rules, naming the field (<see cref="ArgumentException.ParamName"/>)
/// and how to fix it. Services answer exactly these with InvalidArgument; any other exception is a bug
/// (Internal), so a stray ArgumentException from a library is never blamed on the caller.
/// </summary>
public sealed class InvalidRequestException(string field, string message) : ArgumentException(message, field)
{
    public string Field => ParamName!;

    /// <summary>The message alone (ArgumentException appends " (Parameter 'x')", which callers do not need).</summary>
    public override string Message => base.Message.Replace($" (Parameter '{ParamName}')", "");
}
