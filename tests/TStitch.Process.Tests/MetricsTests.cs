using TStitch.Contracts;
using TStitch.Process.Tests.Metrics;
using Xunit.Abstractions;

namespace TStitch.Process.Tests;

/// <summary>
/// After one stitched job, each process's Prometheus /metrics shows it. The fixture is shared, so every
/// value is read before and after the job and the difference is asserted.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class MetricsTests(ProcessCluster cluster, ITestOutputHelper output)
{
    private const string Orchestrator = ProcessCluster.Orchestrator, Small = ProcessCluster.Small, Large = ProcessCluster.Large;
    private static readonly TimeSpan SettleWait = TimeSpan.FromSeconds(15);

    // The exporter's names: dots become underscores, counters get _total, histograms _count (after the unit).
    private const string JobsStarted = "tstitch_orchestrator_jobs_started_total";
    private const string JobsSucceeded = "tstitch_orchestrator_jobs_succeeded_total";
    private const string JobDurations = "tstitch_orchestrator_job_duration_milliseconds_count";
    private const string Steps = "tstitch_orchestrator_steps_total";
    private const string Stages = "tstitch_orchestrator_stage_duration_milliseconds_count";
    private const string Checkpoints = "tstitch_orchestrator_checkpoint_duration_milliseconds_count";
    private const string StageRuns = "tstitch_denoiser_stage_run_duration_milliseconds_count";
    private const string BatchRuns = "tstitch_denoiser_batch_rows_count";
    private const string QueueDepth = "tstitch_denoiser_queue_depth";

    [Fact]
    public async Task One_job_shows_in_every_process_metrics()
    {
        var before = await ScrapeAllAsync();
        var request = ProcessRequests.Stitched("metrics");
        var result = await cluster.Client.GenerateAsync(request, deadline: DateTime.UtcNow + ProcessRequests.Deadline);
        Assert.True(result.Job.Status == JobStatus.Succeeded, $"{result.Job.Status} {result.Job.Error}");

        // Orchestrator: the job counters, one step per step on its pool, one stage-duration observation per stage.
        var expected = new List<(string Name, string[] Labels, double Delta)>
        {
            (JobsStarted, [], 1), (JobsSucceeded, [], 1), (JobDurations, ["tstitch_status=Succeeded"], 1),
        };
        foreach (var (pool, steps) in ProcessRequests.StepsPerPool)
        {
            expected.Add((Steps, [$"tstitch_pool={pool}"], steps));
            expected.Add((Stages, [$"tstitch_pool={pool}", "tstitch_mode=stage"], 1));
        }
        var orchestrator = await ScrapeUntilAsync(Orchestrator,
            s => expected.All(e => Delta(before[Orchestrator], s, e.Name, e.Labels) >= e.Delta));
        foreach (var (name, labels, delta) in expected)
            Assert.True(Delta(before[Orchestrator], orchestrator, name, labels) == delta,
                $"{name}{{{string.Join(",", labels)}}} should rise by {delta}, " +
                $"rose by {Delta(before[Orchestrator], orchestrator, name, labels)}.\n{orchestrator.Show("tstitch_orchestrator")}");
        Assert.True(Delta(before[Orchestrator], orchestrator, Checkpoints, []) >= 2, orchestrator.Show("tstitch_orchestrator_checkpoint"));

        // Denoisers: one stage run each, and at least one model run per step of their pool (2 rows each).
        foreach (var (service, pool) in new[] { (Small, "small"), (Large, "large") })
        {
            int steps = ProcessRequests.StepsPerPool[pool];
            var after = await ScrapeUntilAsync(service,
                s => Delta(before[service], s, StageRuns, []) >= 1 && Delta(before[service], s, BatchRuns, []) >= steps);
            Assert.True(Delta(before[service], after, StageRuns, [$"tstitch_model={pool}"]) == 1,
                $"{service}: {StageRuns} should rise by 1.\n{after.Show("tstitch_denoiser")}");
            Assert.True(Delta(before[service], after, BatchRuns, [$"tstitch_model={pool}"]) >= steps,
                $"{service}: {BatchRuns} should rise by at least {steps}.\n{after.Show("tstitch_denoiser")}");
            Assert.True(after.Samples.Any(s => s.Name == QueueDepth && s.Labels.GetValueOrDefault("tstitch_model") == pool),
                $"{service}: no {QueueDepth} gauge.\n{after.Show("tstitch_denoiser")}");
            output.WriteLine(after.Show("tstitch_denoiser"));
        }
        output.WriteLine(orchestrator.Show("tstitch_orchestrator"));
    }

    private async Task<Dictionary<string, PrometheusText>> ScrapeAllAsync()
    {
        var scrapes = new Dictionary<string, PrometheusText>();
        foreach (var name in new[] { Orchestrator, Small, Large })
            scrapes[name] = await MetricsScraper.ScrapeAsync(cluster.MetricsAddress(name));
        return scrapes;
    }

    private Task<PrometheusText> ScrapeUntilAsync(string name, Func<PrometheusText, bool> done) =>
        MetricsScraper.ScrapeUntilAsync(cluster.MetricsAddress(name), done, SettleWait);

    private static double Delta(PrometheusText before, PrometheusText after, string name, string[] labels) =>
        after.Sum(name, labels) - before.Sum(name, labels);
}
