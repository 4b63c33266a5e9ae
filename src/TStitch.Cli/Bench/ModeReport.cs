using TStitch.Quality;

namespace TStitch.Cli.Bench;

/// <summary>
/// What one mode of the adaptive load benchmark served, over its measured jobs (warm-up left out) of
/// every round: latency percentiles, throughput, the schedules served, and the quality of exactly the
/// samples it returned, scored by the FD proxy in round and job order.
/// </summary>
internal sealed record ModeReport(
    string Mode,
    int Jobs,
    int Failed,
    int Images,
    double OfferedJobsPerSecond,
    double ThroughputImagesPerSecond,
    double P50Ms,
    double P95Ms,
    double P99Ms,
    double TargetMs,
    IReadOnlyList<(string Schedule, int Jobs)> Schedules,
    double MeanOffLargeShare,
    QualityReport? Quality)
{
    public bool WithinTarget => P95Ms <= TargetMs;

    /// <param name="served">Every job the mode sent, warm-up included, in any order.</param>
    /// <param name="metric">Scores the measured jobs' features (<see cref="ServedJob.Scored"/>); null skips quality.</param>
    public static ModeReport From(string mode, IReadOnlyCollection<ServedJob> served, double offeredJobsPerSecond, double targetMs,
        FidProxy? metric)
    {
        var measured = served.Where(j => j.Measured).OrderBy(j => j.Round).ThenBy(j => j.Index).ToList();
        var ok = measured.Where(j => j.Error is null).ToList();
        var latencies = measured.Select(j => j.LatencyMs).ToList(); // a failed job counts with its wait: it was not served in time
        int images = ok.Sum(j => j.Images);
        // Served images over the time the measured jobs spanned: from the first sent to the last answered, per round.
        double seconds = measured.GroupBy(j => j.Round)
            .Sum(r => r.Max(j => j.SentAtSeconds + j.LatencyMs / 1000) - r.Min(j => j.SentAtSeconds));
        QualityReport? quality = null;
        if (metric is not null && ok.Count > 0)
            quality = metric.Evaluate(
                ok.SelectMany(j => j.Features ?? throw new InvalidOperationException("Score the jobs first.")).ToArray(),
                ok.SelectMany(j => j.Labels).ToArray());
        return new ModeReport(mode, measured.Count, measured.Count - ok.Count, images, offeredJobsPerSecond,
            seconds > 0 ? images / seconds : 0,
            Stats.Percentile(latencies, 0.50), Stats.Percentile(latencies, 0.95), Stats.Percentile(latencies, 0.99), targetMs,
            ok.GroupBy(j => (j.Schedule, j.OffLargeShare)).OrderBy(g => g.Key.OffLargeShare)
                .Select(g => (g.Key.Schedule, g.Count())).ToList(),
            ok.Count == 0 ? 0 : ok.Average(j => j.OffLargeShare), quality);
    }
}
