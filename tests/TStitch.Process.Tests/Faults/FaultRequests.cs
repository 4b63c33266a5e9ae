using TStitch.Contracts;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Process.Tests;

/// <summary>
/// The long job the fault tests interrupt (1000 steps, 32 images: a few seconds even on an idle machine, long enough to kill
/// something mid-job), and its bytes as the library computes them in this process (once).
/// </summary>
public static class FaultRequests
{
    public const int LongSteps = 1000;
    public const double SmallFraction = 0.4;
    private static readonly int[] Labels = Enumerable.Range(0, 32).Select(i => i % 10).ToArray();
    private static Task<float[]>? _expected;

    /// <summary>Bound on any one job of these tests, so nothing waits forever.</summary>
    public static readonly TimeSpan JobDeadline = TimeSpan.FromSeconds(180);

    public static GenerateRequest LongJob(string prefix) => new()
    {
        ClassLabels = { Labels }, Steps = LongSteps, SmallFraction = SmallFraction, Seed = 7, Output = OutputKind.Raw,
        JobId = $"{prefix}-{Guid.NewGuid():N}",
    };

    /// <summary>What <see cref="Long"/> samples to with the library in this process (computed once;
    /// the job id does not change the bytes).</summary>
    public static Task<float[]> ExpectedAsync(ProcessCluster cluster) =>
        _expected ??= LibraryBytes.ComputeAsync(cluster.ZooDirectory, LongJob("expected"));
}
