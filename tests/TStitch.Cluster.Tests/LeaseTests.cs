using TStitch.Orchestration;
using TStitch.Contracts;

namespace TStitch.Cluster.Tests;

/// <summary>Several orchestrators on one Redis: each job runs on exactly one of them at a time.</summary>
[Collection(ClusterCollection.Name)]
public class LeaseTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    private const string FastLease = "--Orchestrator:JobLease=00:00:01.500";

    [Fact]
    public async Task A_second_orchestrator_leaves_a_live_job_alone_and_serves_its_result()
    {
        await using var first = await Cluster.StartOrchestratorAsync(FastLease);
        var request = Request(0.4, 600, NewJobId(), OutputKind.Raw, labels: [2, 3]);
        using var call = await StreamUntilStepAsync(first.Client, request, untilStep: 5);
        await using var second = await Cluster.StartOrchestratorAsync(FastLease);

        var viaSecond = second.Client.GenerateAsync(request).ResponseAsync;
        await Task.Delay(1200); // more than two maintenance periods of the second orchestrator
        Assert.Null(Manager(second).Running(request.JobId));
        var stored = await Cluster.Store.GetAsync(request.JobId);
        Assert.Equal(Manager(first).InstanceId, stored!.Owner);

        var result = await viaSecond;
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(600, result.Job.CallsPerPool.Values.Sum()); // ran once, on the first
        Assert.Equal(0, result.Job.ResumedFromStep);
        Assert.Equal(await InProcessAsync(request), Samples(result));
    }

    [Fact]
    public async Task Cancel_sent_to_another_orchestrator_reaches_the_owner()
    {
        await using var owner = await Cluster.StartOrchestratorAsync(FastLease);
        await using var other = await Cluster.StartOrchestratorAsync(FastLease);
        // Big enough to outlast a few maintenance periods (a third of the lease) in stage mode.
        var request = GuidedLongJob(NewJobId());
        using var call = await StreamUntilStepAsync(owner.Client, request, untilStep: 3);
        await other.Client.CancelJobAsync(new CancelJobRequest { JobId = request.JobId });
        var job = await WaitForAsync(other.Client, request.JobId, j => j.Status == JobStatus.Cancelled, timeoutMs: 10000);
        Assert.InRange(job.Step, 3, 999);
        Assert.Null(Manager(owner).Running(request.JobId));
    }

    [Fact]
    public async Task Jobs_of_a_crashed_orchestrator_are_taken_over_when_its_lease_expires()
    {
        // What a crash leaves behind: jobs marked running by an owner that no longer renews.
        var expired = await PlantAsync("ghost-expired", DateTimeOffset.UtcNow.AddSeconds(-1));
        var live = await PlantAsync("ghost-live", DateTimeOffset.UtcNow.AddMinutes(5));
        await using var survivor = await Cluster.StartOrchestratorAsync(FastLease);

        var done = await WaitForAsync(survivor.Client, expired.JobId, j => j.Status == JobStatus.Succeeded);
        Assert.Equal(20, done.Step);
        var result = await survivor.Client.GenerateAsync(expired);
        Assert.Equal(await InProcessAsync(expired), Samples(result));

        await Task.Delay(1000);
        var untouched = await Cluster.Store.GetAsync(live.JobId);
        Assert.Equal("ghost-live", untouched!.Owner);
        Assert.Equal(JobStatus.Running, untouched.Status);
        Assert.Equal(0, untouched.Step);
        await Cluster.Store.SaveAsync(untouched with { Status = JobStatus.Cancelled }); // tidy up for later tests
    }

    [Fact]
    public async Task A_record_that_cannot_be_read_does_not_stop_the_takeover_of_the_others()
    {
        // A record no version of the orchestrator can read, among the unfinished jobs, its lease long gone.
        string unreadable = NewJobId();
        var db = Cluster.RedisConnection.GetDatabase();
        await db.HashSetAsync($"tstitch:job:{unreadable}", [new("spec", "{not json"), new("status", (int)JobStatus.Running),
            new("owner", "ghost"), new("lease_until", 0)]);
        await db.SetAddAsync("tstitch:jobs:unfinished", unreadable);
        try
        {
            var orphans = new List<GenerateRequest>();
            for (int i = 0; i < 5; i++) orphans.Add(await PlantAsync("ghost", DateTimeOffset.UtcNow.AddSeconds(-1)));
            await using var survivor = await Cluster.StartOrchestratorAsync(FastLease);
            foreach (var orphan in orphans) // each is taken over and run to the end (WaitForAsync fails after 30 s)
                await WaitForAsync(survivor.Client, orphan.JobId, j => j.Status == JobStatus.Succeeded);
        }
        finally
        {
            await db.SetRemoveAsync("tstitch:jobs:unfinished", unreadable);
            await db.KeyDeleteAsync($"tstitch:job:{unreadable}");
        }
    }

    [Fact]
    public async Task An_orchestrator_that_lost_its_lease_stops_writing_the_job()
    {
        await using var loser = await Cluster.StartOrchestratorAsync(FastLease);
        var request = Request(0.4, 1000, NewJobId());
        using var call = await StreamUntilStepAsync(loser.Client, request, untilStep: 3);
        // Another orchestrator claims the job (as after this one stalled past its lease).
        await Cluster.RedisConnection.GetDatabase().HashSetAsync("tstitch:job:" + request.JobId,
            [new("owner", "thief"), new("lease_until", DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds())]);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (Manager(loser).Running(request.JobId) is not null && clock.ElapsedMilliseconds < 5000) await Task.Delay(20);
        Assert.Null(Manager(loser).Running(request.JobId));
        var after = await Cluster.Store.GetAsync(request.JobId);
        await Task.Delay(300);
        var later = await Cluster.Store.GetAsync(request.JobId);
        Assert.Equal("thief", later!.Owner);
        Assert.Equal(after!.Step, later.Step);
        Assert.Equal(JobStatus.Running, later.Status);
        await Cluster.Store.SaveAsync(later with { Status = JobStatus.Cancelled }); // tidy up for later tests
    }

    [Fact]
    public async Task A_caller_that_leaves_a_shared_job_does_not_stop_it_for_the_others()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var request = Request(0.4, 1000, NewJobId(), OutputKind.Raw, labels: [4]);
        using var impatient = new CancellationTokenSource();
        using var first = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 3, impatient.Token);
        // The patient caller is attached (it has had an event) before the impatient one leaves.
        using var patient = await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 4);
        impatient.Cancel();
        GenerateResult? result = null;
        while (await patient.ResponseStream.MoveNext(CancellationToken.None))
            result = patient.ResponseStream.Current.Result ?? result;
        Assert.NotNull(result);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await InProcessAsync(request), Samples(result));
    }

    [Fact]
    public async Task A_caller_arriving_while_the_job_stops_for_the_last_one_who_left_gets_it_resumed_not_the_stop()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var manager = Manager(orchestrator);
        var request = GuidedLongJob(NewJobId()); // still running when its caller leaves at step 30, even on a fast machine
        var expected = InProcessAsync(request);
        await using var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync($"{Cluster.Redis},allowAdmin=true");
        RunningJob? stopping;
        using (var leaving = new CancellationTokenSource())
        using (await StreamUntilStepAsync(orchestrator.Client, request, untilStep: 30, leaving.Token)) // past a checkpoint
        {
            // Writes wait for a second: the job's end, once its only caller has left, takes that long to be recorded.
            await admin.GetDatabase().ExecuteAsync("CLIENT", "PAUSE", "1000", "WRITE");
            stopping = manager.Running(request.JobId);
            Assert.NotNull(stopping);
            leaving.Cancel();
            var clock = System.Diagnostics.Stopwatch.StartNew();
            while (stopping.StopReason == StopReason.None && clock.Elapsed < TimeSpan.FromSeconds(10)) await Task.Delay(5);
            Assert.Equal(StopReason.CallerLeft, stopping.StopReason);
        }
        // A caller following the job now (as Generate does with what the store holds: still `running`).
        var stored = (await Cluster.Store.GetAsync(request.JobId, withData: false))!;
        Assert.Equal(JobStatus.Running, stored.Status);
        var (_, waiter) = await manager.FollowAsync(stored, null, CancellationToken.None);
        Assert.NotNull(waiter);
        using (waiter)
        {
            Assert.NotSame(stopping, waiter.Job); // not handed the stop
            Assert.Equal(JobStatus.Succeeded, (await waiter.Job.Completion.WaitAsync(TimeSpan.FromSeconds(60))).Status);
        }
        var result = await orchestrator.Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddSeconds(60));
        Assert.InRange(result.Job.ResumedFromStep, 25, 999);
        Assert.Equal(await expected, Samples(result));
    }

    [Fact]
    public async Task A_job_failed_by_a_pool_outage_resumes_when_the_same_request_comes_back()
    {
        var request = Request(0.4, 20, NewJobId(), OutputKind.Raw);
        await using (var broken = await Cluster.StartOrchestratorAsync(
            $"--Orchestrator:Pools:large=http://127.0.0.1:{ClusterFixture.FreePort()}", "--Orchestrator:StepTimeout=00:00:03"))
        {
            var ex = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await broken.Client.GenerateAsync(request));
            Assert.Equal(Grpc.Core.StatusCode.Unavailable, ex.StatusCode);
        }
        Assert.Equal(JobStatus.Failed, (await Cluster.Store.GetAsync(request.JobId))!.Status);

        await using var healthy = await Cluster.StartOrchestratorAsync();
        var result = await healthy.Client.GenerateAsync(request);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await InProcessAsync(request), Samples(result));

        var other = Request(0.5, 20, request.JobId, OutputKind.Raw);
        var reused = await Assert.ThrowsAsync<Grpc.Core.RpcException>(async () => await healthy.Client.GenerateAsync(other));
        Assert.Equal(Grpc.Core.StatusCode.InvalidArgument, reused.StatusCode);
        Assert.Contains("different request", reused.Status.Detail);
    }

    private async Task<GenerateRequest> PlantAsync(string owner, DateTimeOffset leaseUntil)
    {
        var request = Request(0.4, 20, NewJobId(), OutputKind.Raw);
        await Cluster.Store.CreateAsync(new JobRecord
        {
            Id = request.JobId, Spec = JobRequestMapping.ToJob(request, MappingOptions).Spec, Steps = 20, Status = JobStatus.Running,
            Owner = owner, LeaseUntil = leaseUntil,
        });
        return request;
    }

    private static JobManager Manager(OrchestratorHandle handle) => (JobManager)handle.App.Services.GetService(typeof(JobManager))!;
}
