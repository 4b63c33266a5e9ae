using System.Globalization;
using System.Text.RegularExpressions;
using TStitch.Contracts;

namespace TStitch.Cli.Bench;

/// <summary>
/// One job of the adaptive load benchmark as the client saw it: which round it belonged to, whether it
/// is measured (not warm-up), when it was sent (seconds into its round), how long until its result,
/// the schedule the orchestrator ran (and how far the load controller shifted it), and the raw samples
/// it returned with their labels. <see cref="Error"/> is set instead for a job that failed.
/// </summary>
internal sealed partial record ServedJob(int Round, int Index, bool Measured, double SentAtSeconds, double LatencyMs, string Schedule,
    double OffLargeShare, int Shift, float[] Samples, int[] Labels, string? Error = null)
{
    public int Images => Labels.Length;

    /// <summary>
    /// The samples' quality features (<see cref="Quality.FidProxy.Features"/>) once <see cref="Scored"/> dropped the samples.
    /// </summary>
    public double[][]? Features { get; init; }

    /// <summary>Whether the job counts for quality: measured, served, with samples.</summary>
    public bool IsScored => Measured && Error is null && Samples.Length > 0;

    /// <summary>
    /// A run's jobs without their samples, the scored ones keeping their features. Done after each run, so
    /// the benchmark process does not hold every served image (~0.5 GB a run) while the next run is
    /// measured: collecting that heap stalled the one-process cluster for seconds (docs/frontier.md, run 8).
    /// </summary>
    public static ServedJob[] Scored(ServedJob[] jobs, Quality.FidProxy metric)
    {
        var scored = jobs.Where(j => j.IsScored).ToArray();
        var features = metric.Features(scored.SelectMany(j => j.Samples).ToArray(), scored.Sum(j => j.Images));
        int at = 0; // the scored jobs' features follow one another in the jobs' order
        return jobs.Select(j =>
        {
            if (!j.IsScored) return j with { Samples = [], Features = null };
            at += j.Images;
            return j with { Samples = [], Features = features[(at - j.Images)..at] };
        }).ToArray();
    }

    /// <summary>
    /// The result of <paramref name="request"/>: its schedule, and its share of steps off <paramref name="largePool"/> from the calls per
    /// pool.
    /// </summary>
    public static ServedJob From(int round, int index, bool measured, double sentAtSeconds, double latencyMs, GenerateRequest request,
        GenerateResult result, string largePool)
    {
        var job = result.Job;
        double offLarge = job.Steps == 0 ? 0 : 1 - job.CallsPerPool.GetValueOrDefault(largePool) / (double)job.Steps;
        var match = ShiftText().Match(job.ScheduleReason);
        int shift = match.Success ? int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture) : 0;
        return new ServedJob(round, index, measured, sentAtSeconds, latencyMs, job.Schedule, offLarge, shift,
            result.Samples.ToFloats("samples"), request.ClassLabels.ToArray());
    }

    public static ServedJob Failed(int round, int index, bool measured, double sentAtSeconds, double latencyMs, GenerateRequest request,
        string error) =>
        new(round, index, measured, sentAtSeconds, latencyMs, "", 0, 0, [], request.ClassLabels.ToArray(), error);

    /// <summary>How ScheduleChooser's reason names a load shift ("...; load shift +2 from ...").</summary>
    [GeneratedRegex(@"load shift \+(\d+)")]
    private static partial Regex ShiftText();
}
