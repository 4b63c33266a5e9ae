using TStitch.Contracts;

namespace TStitch.Process.Tests;

/// <summary>The requests the process tests send: small and cheap (2 images, 10 steps).</summary>
public static class ProcessRequests
{
    public const int Steps = 10;
    /// <summary>small_fraction 0.4 of 10 steps: the first 4 on the small pool, the last 6 on the large one.</summary>
    public static readonly IReadOnlyDictionary<string, int> StepsPerPool = new Dictionary<string, int> { ["small"] = 4, ["large"] = 6 };
    public static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    /// <summary>Class labels [0, 3], 10 steps, small_fraction 0.4, seed 1, raw output, under a fresh job id.</summary>
    public static GenerateRequest Stitched(string prefix = "process") => new()
    {
        ClassLabels = { 0, 3 }, Steps = Steps, SmallFraction = 0.4, Seed = 1,
        Output = OutputKind.Raw, JobId = $"{prefix}-{Guid.NewGuid():N}",
    };
}
