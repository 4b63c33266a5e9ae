using Grpc.Core;
using TStitch.Contracts;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Cluster.Tests;

/// <summary>Stages run inside the pools: same bytes as the per-step mode and the library, control reaches the replica.</summary>
[Collection(ClusterCollection.Name)]
public class StageRunTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    public static TheoryData<string, string, double, float, bool> Samplers => new()
    {
        { "ddim eta 0", "ddim", 0, 1f, false },
        { "ddim eta 1", "ddim", 1, 1f, false },
        { "ddpm", "ddpm", 0, 1f, false },
        { "dpm-solver++ cfg 3 stages", "dpm-solver++", 0, 2.5f, true },
        { "ddim cfg 3 stages", "ddim", 0.5, 3f, true },
    };

    [Theory]
    [MemberData(nameof(Samplers))]
    public async Task Stage_mode_equals_step_mode_equals_the_library_byte_for_byte(string name, string sampler, double eta,
        float guidance, bool threeStages)
    {
        await using var stage = await Cluster.StartOrchestratorAsync("--Orchestrator:CheckpointEvery=7");
        await using var step = await Cluster.StartOrchestratorAsync(StepMode);
        var request = Request(0.4, 37, NewJobId(), OutputKind.Raw, seed: 11, labels: [1, 4, 8]);
        request.Sampler = sampler;
        request.Eta = eta;
        request.GuidanceScale = guidance;
        if (threeStages)
            request.Stages = new StageList { Stages = { new Stage { Pool = "small", Fraction = 0.3 },
                new Stage { Pool = "large", Fraction = 0.5 }, new Stage { Pool = "small", Fraction = 0.2 } } };
        var expected = await InProcessAsync(request);

        var (stageResult, events) = await StreamAsync(stage.Client, request);
        var stepRequest = request.Clone();
        stepRequest.JobId = NewJobId();
        var stepResult = await step.Client.GenerateAsync(stepRequest);

        Assert.True(expected.SequenceEqual(Samples(stageResult)), $"{name}: stage mode differs from the library");
        Assert.True(expected.SequenceEqual(Samples(stepResult)), $"{name}: step mode differs from the library");
        // GenerateStream: one event per step, in order, each naming the pool that ran it.
        Assert.Equal(Enumerable.Range(1, 37), events.Select(e => e.Step));
        var schedule = JobRequestMapping.ToJob(request, MappingOptions).Spec.Schedule;
        Assert.Equal(Enumerable.Range(0, 37).Select(i => schedule.ModelFor(i, 37)), events.Select(e => e.Pool));
        Assert.Equal(stepResult.Job.CallsPerPool, stageResult.Job.CallsPerPool);
    }

    [Fact]
    public async Task Cancel_mid_stage_stops_the_replicas_work()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = GuidedLongJob(NewJobId(), smallFraction: 0);
        using var call = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 20);
        await orchestrator.Client.CancelJobAsync(new CancelJobRequest { JobId = request.JobId });
        await Task.Delay(200); // the replica notices the cancelled call within a step
        long stopped = Cluster.Runs(Cluster.Large);
        await Task.Delay(500);
        Assert.Equal(stopped, Cluster.Runs(Cluster.Large));
        var job = await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = request.JobId });
        Assert.Equal(JobStatus.Cancelled, job.Status);
        Assert.InRange(job.Step, 20, 999);
    }

    [Fact]
    public async Task A_stage_run_stops_within_a_step_when_its_caller_cancels()
    {
        using var channel = GrpcChannels.Create(Cluster.SmallAddress);
        var client = new Denoiser.DenoiserClient(channel);
        using var cts = new CancellationTokenSource();
        using var call = client.RunStage(ValidStageRun(steps: 1000, to: 1000), cancellationToken: cts.Token);
        int seen = 0;
        while (await call.ResponseStream.MoveNext(CancellationToken.None) && ++seen < 10) { }
        cts.Cancel();
        await Task.Delay(200);
        long stopped = Cluster.Runs(Cluster.Small);
        await Task.Delay(400);
        Assert.Equal(stopped, Cluster.Runs(Cluster.Small));
    }

    public static TheoryData<string, Action<StageRunRequest>, string> BadStageRuns => new()
    {
        { "from after to", r => { r.State.Step = 12; r.ToStep = 10; }, "to_step" },
        { "from equal to", r => r.ToStep = r.State.Step, "to_step" },
        { "to beyond the plan", r => r.ToStep = 21, "to_step" },
        { "from beyond the plan", r => r.State.Step = 25, "state.step" },
        { "state of the wrong shape", r => r.State.Latents = TensorMessages.FromFloats(new float[2 * 3 * 16 * 16], 2, 3, 16, 16),
            "state.latents" },
        { "history of the wrong shape", r => r.State.PreviousX0 = TensorMessages.FromFloats(new float[3072], 1, 3, 32, 32),
            "state.previous_x0" },
        { "missing state", r => r.State = null, "state" },
        { "unknown sampler", r => r.Trajectory.Sampler = "euler", "sampler" },
        { "other noise schedule", r => r.Trajectory.NoiseSchedule = "cosine", "noise_schedule" },
        { "class out of range", r => r.Trajectory.ClassLabels[1] = 10, "class_labels[1] = 10" },
        { "negative checkpoint interval", r => r.CheckpointEvery = -1, "checkpoint_every" },
        { "other timestep spacing", r => r.Trajectory.TimestepSpacing = "leading", "timestep_spacing" },
        { "prompt embeddings to a class model", r => r.Trajectory.PromptEmbeddings = TensorMessages.FromFloats(new float[8], 2, 2, 2),
            "prompt_embeddings" },
        { "dpm-solver++ without its history", r => { r.Trajectory.Sampler = "dpm-solver++"; r.State.Step = 5; }, "previous_x0" },
    };

    [Theory]
    [MemberData(nameof(BadStageRuns))]
    public async Task Bad_stage_runs_get_invalid_argument_naming_the_field(string name, Action<StageRunRequest> spoil, string expected)
    {
        using var channel = GrpcChannels.Create(Cluster.LargeAddress);
        var client = new Denoiser.DenoiserClient(channel);
        var request = ValidStageRun(steps: 20, to: 10);
        spoil(request);
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
        {
            using var call = client.RunStage(request);
            while (await call.ResponseStream.MoveNext(CancellationToken.None)) { }
        });
        Assert.True(ex.StatusCode == StatusCode.InvalidArgument, $"{name}: {ex.StatusCode} {ex.Status.Detail}");
        Assert.Contains(expected, ex.Status.Detail);
        // The replica is still up and serves a good stage run.
        using var good = client.RunStage(ValidStageRun(steps: 20, to: 2));
        var last = new List<StageRunEvent>();
        while (await good.ResponseStream.MoveNext(CancellationToken.None)) last.Add(good.ResponseStream.Current);
        Assert.Equal(2, last[^1].Final.Step);
    }

    /// <summary>Two samples at step 0 of a 20-step DDIM trajectory, running to <paramref name="to"/>.</summary>
    private static StageRunRequest ValidStageRun(int steps, int to)
    {
        var trajectory = new TrajectoryParameters
            { Steps = steps, Sampler = "ddim", GuidanceScale = 1, Seed = 3, NoiseSchedule = "linear", TrainingSteps = 1000 };
        trajectory.ClassLabels.AddRange([2, 5]);
        var x = new float[2 * 3072];
        StepNoise.Fill(x, 3, 0, StepNoise.InitialStep);
        return new StageRunRequest
        {
            Trajectory = trajectory, ToStep = to, CheckpointEvery = 5, JobId = "stage-run-test",
            State = new SamplerCheckpoint { Step = 0, Latents = TensorMessages.FromFloats(x, 2, 3, 32, 32) },
        };
    }

    private static async Task<(GenerateResult Result, List<StepProgress> Events)> StreamAsync(Orchestrator.OrchestratorClient client,
        GenerateRequest request)
    {
        var events = new List<StepProgress>();
        GenerateResult? result = null;
        using var call = client.GenerateStream(request);
        await foreach (var e in call.ResponseStream.ReadAllAsync())
            if (e.Progress is { } p) events.Add(p); else result = e.Result;
        return (result ?? throw new InvalidOperationException("The stream ended without a result."), events);
    }
}
