using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using TStitch.Contracts;

namespace TStitch.Cluster.Tests;

[Collection(ClusterCollection.Name)]
public class FailureTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    [Fact]
    public async Task Cancel_job_stops_the_trajectory_and_marks_it_cancelled()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = Request(0.4, 1000, NewJobId());
        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 5);
        var cancelled = await orchestrator.Client.CancelJobAsync(new CancelJobRequest { JobId = request.JobId });
        Assert.Equal(JobStatus.Cancelled, cancelled.Status);
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            { while (await call.ResponseStream.MoveNext(CancellationToken.None)) { } });
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        await AssertStoppedAsync(orchestrator, request.JobId, JobStatus.Cancelled);
    }

    [Fact]
    public async Task A_client_that_goes_away_cancels_its_job()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = Request(0.4, 1000, NewJobId());
        using var cts = new CancellationTokenSource();
        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 5, cts.Token);
        cts.Cancel();
        await WaitForAsync(orchestrator.Client, request.JobId, j => j.Status == JobStatus.Cancelled);
        await AssertStoppedAsync(orchestrator, request.JobId, JobStatus.Cancelled);
    }

    [Fact]
    public async Task Cancel_after_every_caller_left_makes_the_job_final()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = GuidedLongJob(NewJobId()); // still running when its caller leaves, even on a fast machine
        using (var leaving = new CancellationTokenSource())
        using (await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 5, leaving.Token))
            leaving.Cancel();
        var left = await WaitForAsync(orchestrator.Client, request.JobId, j => j.Status == JobStatus.Cancelled);
        Assert.DoesNotContain("cancelled by the client", left.Error); // resumable: the same request would resume it

        var cancelled = await orchestrator.Client.CancelJobAsync(new CancelJobRequest { JobId = request.JobId });
        Assert.Equal(JobStatus.Cancelled, cancelled.Status);
        Assert.Contains("cancelled by the client", cancelled.Error);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await orchestrator.Client.GenerateAsync(request));
        Assert.Equal(StatusCode.Cancelled, ex.StatusCode);
        var job = await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = request.JobId });
        Assert.Equal(left.Step, job.Step); // not run again
    }

    [Fact]
    public async Task A_deadline_shorter_than_the_job_ends_it_with_deadline_exceeded()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        // A first job resolves the pools and connects, so the deadline falls inside the job and not before it exists.
        await orchestrator.Client.GenerateAsync(Request(0.4, 2, NewJobId()));
        // Guided and 32 images: seconds of work even on a fast machine, against half a second.
        var request = GuidedLongJob(NewJobId());
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await orchestrator.Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddMilliseconds(500)));
        Assert.Equal(StatusCode.DeadlineExceeded, ex.StatusCode);
        var job = await WaitForAsync(orchestrator.Client, request.JobId, j => j.Status == JobStatus.Failed);
        Assert.Contains("deadline", job.Error);
        await AssertStoppedAsync(orchestrator, request.JobId, JobStatus.Failed);
    }

    /// <summary>Nothing is left running: the job's step does not move any more and no handle remains.</summary>
    private async Task AssertStoppedAsync(OrchestratorHandle orchestrator, string jobId, JobStatus status)
    {
        var first = await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = jobId });
        await Task.Delay(300);
        var later = await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = jobId });
        Assert.Equal(status, later.Status);
        Assert.Equal(first.Step, later.Step);
        Assert.InRange(later.Step, 1, later.Steps - 1);
        var manager = (TStitch.Orchestration.JobManager)orchestrator.App.Services.GetService(typeof(TStitch.Orchestration.JobManager))!;
        Assert.Null(manager.Running(jobId));
    }

    public static TheoryData<string, Action<GenerateRequest>, string> BadRequests => new()
    {
        { "empty class list", r => r.ClassLabels.Clear(), "class_labels" },
        { "class out of range", r => r.ClassLabels.Add(10), "class_labels[3] = 10" },
        { "steps 0", r => r.Steps = 0, "steps" },
        { "steps 1001", r => r.Steps = 1001, "1001" },
        { "small_fraction 1.5", r => r.SmallFraction = 1.5, "small_fraction" },
        { "small_fraction -0.1", r => r.SmallFraction = -0.1, "small_fraction" },
        { "stages not summing to 1", r => r.Stages = new StageList { Stages = { new Stage { Pool = "small", Fraction = 0.5 },
            new Stage { Pool = "large", Fraction = 0.6 } } }, "sum to 1" },
        { "unknown pool", r => r.Stages = new StageList { Stages = { new Stage { Pool = "medium", Fraction = 1 } } }, "'medium'" },
        { "negative guidance", r => r.GuidanceScale = -1, "guidance_scale" },
        { "batch over the maximum", r => r.ClassLabels.AddRange(Enumerable.Range(0, 14).Select(i => i % 10)), "maximum batch is 16" },
        { "unknown sampler", r => r.Sampler = "euler", "sampler" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public async Task Bad_requests_get_invalid_argument_naming_the_field(string name, Action<GenerateRequest> spoil, string expected)
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync("--Orchestrator:MaxImagesPerRequest=16");
        var request = Request(0.4, 10, NewJobId());
        spoil(request);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await orchestrator.Client.GenerateAsync(request));
        Assert.True(ex.StatusCode == StatusCode.InvalidArgument, $"{name}: {ex.StatusCode} {ex.Status.Detail}");
        Assert.Contains(expected, ex.Status.Detail);
        // No job was created for a request that was never valid.
        Assert.Null(await Cluster.Store.GetAsync(request.JobId));
    }

    [Fact]
    public async Task Unknown_jobs_are_not_found()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = "no-such-job" }));
        Assert.Equal(StatusCode.NotFound, ex.StatusCode);
        Assert.Contains("no-such-job", ex.Status.Detail);
    }

    [Fact]
    public async Task A_denoiser_rejects_wrong_shapes_and_nan_and_stays_up()
    {
        using var channel = GrpcChannels.Create(Cluster.LargeAddress);
        var client = new Denoiser.DenoiserClient(channel);
        DenoiseRequest Make(float[] latents, params long[] shape)
        {
            var r = new DenoiseRequest { Latents = TensorMessages.FromFloats(latents, shape), GuidanceScale = 1 };
            r.Timesteps.Add(500);
            r.ClassLabels.Add(3);
            return r;
        }
        var wrongShape = await Assert.ThrowsAsync<RpcException>(async () =>
            await client.DenoiseAsync(Make(new float[3 * 16 * 16], 1, 3, 16, 16)));
        Assert.Equal(StatusCode.InvalidArgument, wrongShape.StatusCode);
        Assert.Contains("expects [1, 3, 32, 32]", wrongShape.Status.Detail);
        var nan = new float[3072];
        nan[17] = float.NaN;
        var notFinite = await Assert.ThrowsAsync<RpcException>(async () => await client.DenoiseAsync(Make(nan, 1, 3, 32, 32)));
        Assert.Equal(StatusCode.InvalidArgument, notFinite.StatusCode);
        Assert.Contains("latents[17] is NaN", notFinite.Status.Detail);
        var badBytes = Make(new float[3072], 1, 3, 32, 32);
        badBytes.Latents.Data = ByteString.CopyFrom(new byte[7]);
        Assert.Equal(StatusCode.InvalidArgument,
            (await Assert.ThrowsAsync<RpcException>(async () => await client.DenoiseAsync(badBytes))).StatusCode);

        var ok = await client.DenoiseAsync(Make(new float[3072], 1, 3, 32, 32));
        Assert.Equal(new long[] { 1, 3, 32, 32 }, ok.Output.Shape);
        Assert.Equal("large", (await client.GetModelInfoAsync(new GetModelInfoRequest())).Name);
    }

    [Fact]
    public async Task A_pool_that_is_down_gives_unavailable_naming_its_address_and_fails_the_job()
    {
        string deadAddress = $"http://127.0.0.1:{ClusterFixture.FreePort()}";
        await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Orchestrator:Pools:large={deadAddress}",
            "--Orchestrator:StepTimeout=00:00:05");
        var request = Request(0.4, 20, NewJobId());
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await orchestrator.Client.GenerateAsync(request));
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Contains(deadAddress, ex.Status.Detail);
        var stored = await Cluster.Store.GetAsync(request.JobId);
        Assert.Equal(JobStatus.Failed, stored!.Status);
        Assert.Contains(deadAddress, stored.Error);
    }

    [Fact]
    public async Task A_pool_that_dies_mid_job_fails_the_job_instead_of_leaving_it_running()
    {
        var (small, smallAddress) = await Cluster.StartDenoiserAsync("small");
        await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Orchestrator:Pools:small={smallAddress}",
            "--Orchestrator:StepTimeout=00:00:05");
        var request = GuidedLongJob(NewJobId(), smallFraction: 0.9); // the small stage must outlast the stop
        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 3);
        await small.StopAsync();
        await small.DisposeAsync();
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            { while (await call.ResponseStream.MoveNext(CancellationToken.None)) { } });
        Assert.True(ex.StatusCode == StatusCode.Unavailable, $"{ex.StatusCode}: {ex.Status.Detail}");
        Assert.Contains(smallAddress, ex.Status.Detail);
        Assert.Equal(JobStatus.Failed, (await Cluster.Store.GetAsync(request.JobId))!.Status);
    }

    [Fact]
    public async Task A_denoiser_whose_queue_is_full_answers_resource_exhausted_and_stays_up()
    {
        var (pool, address) = await Cluster.StartDenoiserAsync("large", "--Denoiser:QueueCapacity=1", "--Denoiser:MaxBatchRows=32");
        await using var _ = pool;
        using var channel = GrpcChannels.Create(address);
        var client = new Denoiser.DenoiserClient(channel);
        var request = new DenoiseRequest { Latents = TensorMessages.FromFloats(new float[16 * 3072], 16, 3, 32, 32), GuidanceScale = 4 };
        request.Timesteps.AddRange(Enumerable.Repeat(500, 16));
        request.ClassLabels.AddRange(Enumerable.Range(0, 16).Select(i => i % 10));

        // 40 calls at once, each a full run on its own (guided: 32 rows from 16 samples, twice the model's work for
        // the same bytes on the wire): the queue (1 call) overflows. The calls only overlap if the server's handlers
        // run side by side, which on 2 cores depends on the thread pool's size at that moment (one burst once ran
        // every call in turn), so the burst is repeated up to ten times.
        var outcomes = new List<StatusCode>();
        for (int burst = 0; burst < 10 && !outcomes.Contains(StatusCode.ResourceExhausted); burst++)
            outcomes.AddRange(await Task.WhenAll(Enumerable.Range(0, 40).Select(async _ =>
            {
                try { await client.DenoiseAsync(request); return StatusCode.OK; }
                catch (RpcException ex) { return ex.StatusCode; }
            })));
        Assert.Contains(StatusCode.ResourceExhausted, outcomes);
        Assert.Contains(StatusCode.OK, outcomes);
        Assert.All(outcomes, s => Assert.True(s is StatusCode.OK or StatusCode.ResourceExhausted, $"unexpected {s}"));
        Assert.Equal(new long[] { 16, 3, 32, 32 }, (await client.DenoiseAsync(request)).Output.Shape);
    }
}
