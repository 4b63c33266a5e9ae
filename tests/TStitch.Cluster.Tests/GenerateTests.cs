using Grpc.Core;
using TStitch.Contracts;

namespace TStitch.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public class GenerateTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    private const string EveryStep = "--Orchestrator:CheckpointEvery=1";

    [Fact]
    public async Task Stitched_generate_hands_off_from_small_to_large_and_matches_the_core_library()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        long smallRuns = Cluster.Runs(Cluster.Small), largeRuns = Cluster.Runs(Cluster.Large);
        var request = Request(0.4, 50, NewJobId());
        var pools = new List<string>();
        using var call = orchestrator.Client.GenerateStream(request);
        GenerateResult? result = null;
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.Progress is { } p) pools.Add(p.Pool); else result = e.Result;

        Assert.NotNull(result);
        Assert.Equal(Enumerable.Repeat("small", 20).Concat(Enumerable.Repeat("large", 30)), pools);
        AssertPng(result!.Png.ToByteArray(), 3 * 34 + 2, 36);
        Assert.Equal(await InProcessAsync(request), Samples(result));

        // The job record in Redis (read directly, not through the orchestrator) shows who served what.
        var stored = await Cluster.Store.GetAsync(request.JobId);
        Assert.NotNull(stored);
        Assert.Equal(JobStatus.Succeeded, stored!.Status);
        Assert.Equal(50, stored.Step);
        Assert.Equal(20, stored.CallsPerPool["small"]);
        Assert.Equal(30, stored.CallsPerPool["large"]);
        var ttl = await Cluster.RedisConnection.GetDatabase().KeyTimeToLiveAsync("tstitch:job:" + request.JobId);
        Assert.NotNull(ttl); // finished jobs expire
        Assert.Equal(20, Cluster.Runs(Cluster.Small) - smallRuns);
        Assert.Equal(30, Cluster.Runs(Cluster.Large) - largeRuns);
    }

    [Fact]
    public async Task Three_stage_schedules_and_other_samplers_match_in_process_runs()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = Request(steps: 30, output: OutputKind.Raw, seed: 5, labels: [1, 2]);
        request.Sampler = "dpm-solver++";
        request.GuidanceScale = 2f;
        request.Stages = new StageList { Stages = { new Stage { Pool = "small", Fraction = 0.3 },
            new Stage { Pool = "large", Fraction = 0.4 }, new Stage { Pool = "small", Fraction = 0.3 } } };
        var result = await orchestrator.Client.GenerateAsync(request);
        Assert.Equal(await InProcessAsync(request), Samples(result));
        Assert.True(result.Png.IsEmpty);
        Assert.Equal(18, result.Job.CallsPerPool["small"]);
        Assert.Equal(12, result.Job.CallsPerPool["large"]);
    }

    [Fact]
    public async Task The_same_job_id_runs_the_trajectory_once()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        long before = Cluster.Runs(Cluster.Small) + Cluster.Runs(Cluster.Large);
        var request = Request(0.4, 40, NewJobId());
        var first = orchestrator.Client.GenerateAsync(request).ResponseAsync;
        var second = orchestrator.Client.GenerateAsync(request).ResponseAsync;
        var results = await Task.WhenAll(first, second);
        var third = await orchestrator.Client.GenerateAsync(request);
        Assert.Equal(40, Cluster.Runs(Cluster.Small) + Cluster.Runs(Cluster.Large) - before);
        Assert.Equal(Samples(results[0]), Samples(results[1]));
        Assert.Equal(Samples(results[0]), Samples(third));
        Assert.Equal(40, third.Job.CallsPerPool.Values.Sum());
    }

    [Fact]
    public async Task A_killed_orchestrator_is_resumed_from_redis_with_identical_bytes()
    {
        // 1000 steps: still running when the first orchestrator is stopped, even on a fast machine.
        var request = Request(0.4, 1000, NewJobId(), OutputKind.PngAndRaw, seed: 3, labels: [2, 4, 6, 8]);
        request.Sampler = "dpm-solver++"; // multistep: the resumed run also needs the stored x0 history
        var expected = await InProcessAsync(request);

        // A checkpoint every step: the job is interrupted exactly where the caller last saw it.
        var first = await Cluster.StartOrchestratorAsync(EveryStep);
        var call = await StreamUntilStepAsync(first.Client, request, untilStep: 30);
        await first.DisposeAsync(); // stops the host: jobs stay `running` in Redis at their last checkpoint
        call.Dispose();
        var interrupted = await Cluster.Store.GetAsync(request.JobId);
        Assert.Equal(JobStatus.Running, interrupted!.Status);
        Assert.InRange(interrupted.Step, 30, 999);

        await using var second = await Cluster.StartOrchestratorAsync(EveryStep);
        var job = await WaitForAsync(second.Client, request.JobId, j => j.Status != JobStatus.Running && j.Status != JobStatus.Queued);
        Assert.Equal(JobStatus.Succeeded, job.Status);
        Assert.Equal(interrupted.Step, job.ResumedFromStep);
        var result = await second.Client.GenerateAsync(request); // same id: returns the stored result
        Assert.Equal(expected, Samples(result));
        Assert.Equal(1000, result.Job.CallsPerPool.Values.Sum());
    }
    [Fact]
    public async Task A_resumed_step_mode_job_that_stops_again_before_its_next_checkpoint_still_resumes_with_identical_bytes()
    {
        // Step mode steps the resumed state in place. Were that the stored checkpoint's own array, the second stop would
        // write latents of a later step labelled with the checkpoint's step, and the last run would start from them.
        var request = Request(0.4, 1000, NewJobId(), OutputKind.Raw, seed: 5, labels: [1, 2, 3, 4]);
        var expected = await InProcessAsync(request);
        await using var first = await Cluster.StartOrchestratorAsync(StepMode, "--Orchestrator:CheckpointEvery=10");
        using (var leaving = new CancellationTokenSource())
        using (await StreamUntilStepAsync(first.Client, request, untilStep: 30, leaving.Token))
            leaving.Cancel();
        var stopped = await WaitForAsync(first.Client, request.JobId, j => j.Status == JobStatus.Cancelled); // every caller left
        Assert.InRange(stopped.Step, 30, 399);

        // The next checkpoint is the stage boundary at step 400, far beyond where this run is stopped.
        await using var second = await Cluster.StartOrchestratorAsync(StepMode, "--Orchestrator:CheckpointEvery=1000");
        using (var leaving = new CancellationTokenSource())
        using (await StreamUntilStepAsync(second.Client, request, untilStep: stopped.Step + 5, leaving.Token))
            leaving.Cancel();
        var again = await WaitForAsync(second.Client, request.JobId, j => j.Status == JobStatus.Cancelled);
        Assert.InRange(again.Step, stopped.Step + 5, 399);

        var result = await second.Client.GenerateAsync(request);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.InRange(result.Job.ResumedFromStep, 10, stopped.Step);
        Assert.Equal(expected, Samples(result));
    }
}
