using System.Globalization;
using TStitch.Contracts;

namespace TStitch.Cli.Bench;

/// <summary>
/// The pure parts of the adaptive load benchmark (tested without a cluster): the two modes'
/// orchestrator settings, the jobs both are sent, and the arrival times both replay.
/// </summary>
internal static class AdaptiveLoadSetup
{
    public const int Classes = 10;

    /// <summary>Settings both orchestrators share: the same slots, so the same queue forms in front of them.</summary>
    private static List<string> Common(AdaptiveLoadSettings s) => [$"--Orchestrator:MaxRunningJobs={s.MaxRunningJobs}"];

    public static LoadMode Fixed(AdaptiveLoadSettings s) => new("fixed all-large", Adaptive: false, Common(s));

    /// <summary>
    /// Load-adaptive: the profile and the latency target turn the load controller on; the default schedule
    /// is all-large (so an idle cluster serves what the fixed side serves) and the controller's reference
    /// job has the benchmark's images.
    /// </summary>
    public static LoadMode Adaptive(AdaptiveLoadSettings s) => new("load-adaptive", Adaptive: true,
    [
        .. Common(s),
        $"--Orchestrator:Profiles:0={Path.GetFullPath(s.ProfilePath)}",
        $"--Orchestrator:LatencyTarget={TimeSpan.FromMilliseconds(s.TargetMs).ToString("c", CultureInfo.InvariantCulture)}",
        "--Orchestrator:DefaultSmallFraction=0",
        $"--Orchestrator:ControlReferenceImages={s.Images}",
        $"--Orchestrator:WorstSchedule={s.WorstSchedule.ToString(CultureInfo.InvariantCulture)}",
    ]);

    /// <summary>Which side runs first in a round (0 = fixed, 1 = adaptive): alternating, so a machine load that drifts hits both.</summary>
    public static int[] Order(int round) => round % 2 == 0 ? [0, 1] : [1, 0];

    /// <summary>
    /// Job <paramref name="index"/>: seed index + 1, labels cycling over the classes across jobs, raw samples back (what the FD proxy
    /// scores).
    /// </summary>
    public static GenerateRequest Job(int index, int images, int steps)
    {
        var request = new GenerateRequest { Steps = steps, Sampler = "ddim", Seed = (ulong)index + 1, Output = OutputKind.Raw };
        request.ClassLabels.AddRange(Enumerable.Range(index * images, images).Select(k => k % Classes));
        return request;
    }

    /// <summary>
    /// Seconds after the start at which jobs arrive during <paramref name="seconds"/>: a Poisson process of
    /// <paramref name="ratePerSecond"/> (seeded exponential gaps), the first job at 0. Both modes replay
    /// the same times.
    /// </summary>
    public static List<double> ArrivalTimes(double ratePerSecond, double seconds, int seed)
    {
        if (!(ratePerSecond > 0) || double.IsInfinity(ratePerSecond))
            throw new ArgumentOutOfRangeException(nameof(ratePerSecond), ratePerSecond, "The arrival rate must be a positive number.");
        var random = new Random(seed);
        var times = new List<double>();
        for (double t = 0; t < seconds; t -= Math.Log(1 - random.NextDouble()) / ratePerSecond) times.Add(t);
        return times;
    }
}
