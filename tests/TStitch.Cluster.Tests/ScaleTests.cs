using Grpc.Core;
using TStitch.Contracts;

namespace TStitch.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public class ScaleTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    [Fact]
    public async Task A_replica_stopped_mid_job_fails_over_to_the_survivor_with_identical_bytes()
    {
        // Step mode: one Denoise call per step, spread round robin over both replicas.
        var (doomed, doomedAddress) = await Cluster.StartDenoiserAsync("large");
        await using var orchestrator = await Cluster.StartOrchestratorAsync(
            $"--Orchestrator:Pools:large={Cluster.LargeAddress},{doomedAddress}", StepMode);
        var request = Request(0, 300, NewJobId(), OutputKind.Raw, seed: 8, labels: [1, 5, 9]);
        var expected = await InProcessAsync(request);
        long survivorBefore = Cluster.Runs(Cluster.Large);

        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 40);
        await doomed.StopAsync();
        long doomedRuns = Cluster.Runs(doomed);
        GenerateResult? result = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            result = call.ResponseStream.Current.Result ?? result;
        long doomedAfter = Cluster.Runs(doomed);
        await doomed.DisposeAsync();

        Assert.NotNull(result);
        Assert.Equal(expected, Samples(result!));
        Assert.Equal(300, result!.Job.CallsPerPool["large"]);
        Assert.True(doomedRuns > 0, "round robin never used the second replica");
        long survivorRuns = Cluster.Runs(Cluster.Large) - survivorBefore;
        // Every step ran exactly once somewhere; everything after the stop went to the survivor. (How far the job was
        // at the stop is not the step the test had read: the job runs ahead of its stream's reader.)
        Assert.Equal(300, survivorRuns + doomedRuns);
        Assert.Equal(doomedRuns, doomedAfter);
    }

    [Fact]
    public async Task A_replica_stopped_mid_stage_hands_the_stage_back_and_a_sibling_finishes_it_with_identical_bytes()
    {
        // Stage mode: the whole stage runs on one replica; stopping it gracefully hands the stage back
        // with a checkpoint of where it was, so the sibling runs every remaining step and none twice.
        var (a, aAddress) = await Cluster.StartDenoiserAsync("large");
        var (b, bAddress) = await Cluster.StartDenoiserAsync("large");
        await using var _a = a;
        await using var _b = b;
        await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Orchestrator:Pools:large={aAddress},{bAddress}");
        var request = Request(0, 1000, NewJobId(), OutputKind.Raw, seed: 8, labels: Enumerable.Range(0, 16).Select(i => i % 10).ToArray());
        var expected = await InProcessAsync(request);

        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 40);
        var (doomed, survivor) = Cluster.Runs(a) > 0 ? (a, b) : (b, a);
        await doomed.StopAsync();
        long doomedRuns = Cluster.Runs(doomed);
        GenerateResult? result = null;
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            result = call.ResponseStream.Current.Result ?? result;

        Assert.NotNull(result);
        Assert.Equal(expected, Samples(result!));
        Assert.Equal(1000, result!.Job.CallsPerPool["large"]);
        Assert.InRange(doomedRuns, 40, 999);
        Assert.Equal(1000, Cluster.Runs(survivor) + doomedRuns);
    }

    [Fact]
    public async Task Jobs_beyond_the_concurrency_limit_wait_queued()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync("--Orchestrator:MaxRunningJobs=1");
        var longJob = GuidedLongJob(NewJobId());
        using var running = await StreamUntilStepAsync(orchestrator.Client, longJob, untilStep: 2);
        var waiting = Request(0.4, 20, NewJobId(), OutputKind.Raw);
        var generate = orchestrator.Client.GenerateAsync(waiting);

        var queued = await WaitForAsync(orchestrator.Client, waiting.JobId, j => j.JobId == waiting.JobId);
        Assert.Equal(JobStatus.Queued, queued.Status);
        Assert.Equal(0, queued.Step);
        await Task.Delay(200);
        Assert.Equal(JobStatus.Queued, (await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = waiting.JobId })).Status);

        await orchestrator.Client.CancelJobAsync(new CancelJobRequest { JobId = longJob.JobId });
        var result = await generate;
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await InProcessAsync(waiting), Samples(result));
    }

    [Theory]
    [InlineData("stage")]
    [InlineData("step")]
    public async Task A_replica_that_reports_not_serving_gets_no_calls_until_it_recovers(string mode)
    {
        var (sick, sickAddress) = await Cluster.StartDenoiserAsync("large");
        await using var _ = sick;
        await using var orchestrator = await Cluster.StartOrchestratorAsync(
            $"--Orchestrator:Pools:large={Cluster.LargeAddress},{sickAddress}", "--Orchestrator:HealthCheckInterval=00:00:00.200",
            $"--Orchestrator:RunMode={mode}");
        // A stage run goes to one replica: a few jobs in a row go round robin over both.
        async Task RunJobs()
        {
            for (int i = 0; i < 4; i++) await orchestrator.Client.GenerateAsync(Request(0, 40, NewJobId(), OutputKind.Raw));
        }
        var health = (TStitch.Denoising.ReplicaHealth)sick.Services.GetService(typeof(TStitch.Denoising.ReplicaHealth))!;

        await RunJobs();
        Assert.True(Cluster.Runs(sick) > 0, "both replicas should share the calls while healthy");

        health.Draining = true;
        await Task.Delay(2000); // ten health-check intervals
        long sickRuns = Cluster.Runs(sick);
        var drained = await orchestrator.Client.GenerateAsync(Request(0, 40, NewJobId(), OutputKind.Raw));
        Assert.Equal(JobStatus.Succeeded, drained.Job.Status);
        Assert.Equal(sickRuns, Cluster.Runs(sick));

        health.Draining = false;
        // Back in the pick list after a health check and a new connection: jobs reach it again (polled, as that takes
        // longer on a busy machine).
        var until = DateTime.UtcNow.AddSeconds(20);
        do await RunJobs(); while (Cluster.Runs(sick) == sickRuns && DateTime.UtcNow < until);
        Assert.True(Cluster.Runs(sick) > sickRuns, "the recovered replica should get calls again");
    }
}
