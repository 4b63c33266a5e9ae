using TStitch.Contracts;
using TStitch.Orchestration.Frontier;

namespace TStitch.Cluster.Tests;

/// <summary>Tier and budget requests over the zoo: the orchestrator runs the schedule it chose from a profile made here.</summary>
[Collection(ClusterCollection.Name)]
public class FrontierClusterTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    [Fact]
    public async Task A_tier_and_a_budget_run_the_frontier_schedule_they_chose()
    {
        var (profile, path) = await WriteProfileAsync(20, (0.0, 0.379), (0.2, 0.390), (0.4, 0.600));
        try
        {
            await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Orchestrator:Profiles:0={path}");

            var balanced = Request(steps: 20, jobId: NewJobId(), output: OutputKind.Raw, labels: [2]);
            // FD 0.390 is within 5 % of 0.379: r = 0.2 (no live timing yet: the profile's costs rank the front)
            balanced.Tier = Tier.Balanced;
            var result = await orchestrator.Client.GenerateAsync(balanced);
            Assert.Equal("small:0.2 -> large:0.8", result.Job.Schedule);
            Assert.Contains("tier balanced", result.Job.ScheduleReason);
            Assert.Equal(4, result.Job.CallsPerPool["small"]);
            Assert.Equal(16, result.Job.CallsPerPool["large"]);
            var stored = await Cluster.Store.GetAsync(balanced.JobId);
            Assert.Equal("tier:balanced", stored!.Spec.ScheduleAsk);
            Assert.Equal(result.Job.ScheduleReason, stored.Spec.ScheduleReason);

            // After a job, live step timings rank the front, so which schedule is fastest is the machine's
            // business; what must hold is that the job runs the schedule it reports.
            var tight = Request(steps: 20, jobId: NewJobId(), output: OutputKind.Raw, labels: [2]);
            tight.LatencyBudgetMs = 0.001; // below any schedule's prediction: the fastest, said so
            result = await orchestrator.Client.GenerateAsync(tight);
            Assert.Contains("no frontier schedule fits the budget", result.Job.ScheduleReason);
            var chosen = profile.Points.Single(p => p.ToString() == result.Job.Schedule);
            int small = (int)Math.Round(chosen.Stages[0].Fraction * 20);
            Assert.Equal(small, result.Job.CallsPerPool.GetValueOrDefault("small"));
            Assert.Equal(20 - small, result.Job.CallsPerPool["large"]);
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public async Task A_resubmitted_jobs_latency_is_measured_from_its_resubmit()
    {
        // Load-adaptive mode on (a profile and a target it never reaches): jobs without a schedule are the controller's,
        // and their latencies feed it.
        var (_, path) = await WriteProfileAsync(1000, (0.0, 0.4), (0.4, 0.8));
        try
        {
            // All large by default (r = 0 is on the front) and no checkpoint before the end: the first run, stopped early,
            // leaves nothing to resume from.
            await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Orchestrator:Profiles:0={path}",
                "--Orchestrator:LatencyTarget=00:10:00", "--Orchestrator:CheckpointEvery=1000", "--Orchestrator:DefaultSmallFraction=0");
            var latencies = (JobLatencies)orchestrator.App.Services.GetService(typeof(JobLatencies))!;
            var request = Request(steps: 1000, jobId: NewJobId(), output: OutputKind.Raw,
                labels: Enumerable.Range(0, 32).Select(i => i % 10).ToArray());
            request.GuidanceScale = 4;
            request.ClearSwitchSchedule(); // no schedule: the orchestrator's to choose
            using (var leaving = new CancellationTokenSource())
            using (await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 5, leaving.Token)) // before any checkpoint
                leaving.Cancel();
            await WaitForAsync(orchestrator.Client, request.JobId, j => j.Status == JobStatus.Cancelled);
            await Task.Delay(TimeSpan.FromSeconds(1)); // the caller's retry gap

            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = await orchestrator.Client.GenerateAsync(request);
            double resubmitToResult = clock.Elapsed.TotalMilliseconds;
            Assert.True(result.Job.ResumedFromStep == 0, // stopped before its first checkpoint: runs again from the start
                $"resumed from step {result.Job.ResumedFromStep}");
            var measured = latencies.Percentile(1);
            var stored = await Cluster.Store.GetAsync(request.JobId, withData: false);
            Assert.True(measured is not null, $"no latency measured; ask {stored!.Spec.ScheduleAsk}, {result.Job.ScheduleReason}, " +
                $"{resubmitToResult:F0} ms");
            Assert.True(measured <= resubmitToResult + 100,
                $"measured {measured:F0} ms for a job the caller had back {resubmitToResult:F0} ms after resubmitting it");
        }
        finally
        {
            File.Delete(path);
        }
    }

    /// <summary>
    /// A DDIM profile of the zoo's two pools (a small step a tenth of a large one) with a point per (small fraction, FD),
    /// written to a temporary file the caller deletes.
    /// </summary>
    private static async Task<(FrontierProfile Profile, string Path)> WriteProfileAsync(int steps, params (double R, double Fd)[] points)
    {
        var profile = new FrontierProfile
        {
            Family = $"zoo ddim-{steps} (test)", Sampler = "ddim", Steps = steps, Samples = 10, Batch = 1, MeasuredOn = "test",
            StepMsPerImage = new() { ["small"] = 0.1, ["large"] = 1.0 },
            Points = ParetoFront.Mark(points.Select(p => new FrontierPoint
            {
                Stages = [new("small", p.R), new("large", 1 - p.R)], Fd = p.Fd, Precision = 0.9, Recall = 0.3, ClassAccuracy = 0.6,
                LatencyMsPerImage = 20 * ((1 - p.R) + p.R * 0.1),
            })),
        };
        var path = Path.Combine(Path.GetTempPath(), $"tstitch-profile-{Guid.NewGuid():N}.json");
        await File.WriteAllTextAsync(path, profile.ToJson());
        return (profile, path);
    }
}
