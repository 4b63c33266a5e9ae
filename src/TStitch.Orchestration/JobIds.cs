using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// Client job ids: at most <see cref="MaxLength"/> printable ASCII characters (letters, digits and
/// punctuation, no spaces or control characters). Checked before an id is stored, looked up, logged
/// or echoed, so an id can never carry megabytes or terminal escapes into the store or the logs.
/// </summary>
public static class JobIds
{
    public const int MaxLength = 128;

    public static string New() => Guid.NewGuid().ToString("N");

    /// <summary>The id itself, or an <see cref="InvalidRequestException"/> that does not quote it.</summary>
    public static string Check(string? id, string field = "job_id")
    {
        if (string.IsNullOrEmpty(id))
            throw new InvalidRequestException(field, $"{field} is empty.");
        if (id.Length > MaxLength)
            throw new InvalidRequestException(field, $"{field} has {id.Length} characters; at most {MaxLength} are allowed.");
        for (int i = 0; i < id.Length; i++)
            if (id[i] is < '!' or > '~')
                throw new InvalidRequestException(field,
                    $"{field} has a character outside printable ASCII (U+{(int)id[i]:X4}) at position {i}.");
        return id;
    }
}
