using TStitch.LocalCluster;
using System.Diagnostics;
using Grpc.Core;
using TStitch.Contracts;
using Xunit.Abstractions;

namespace TStitch.Process.Tests;

/// <summary>
/// Faults injected into separate OS processes (kill -9 of a replica, the orchestrator, redis-server;
/// Redis restarted empty; wrong Redis password) and the inputs of issue 9 that used to get through.
/// Every job either completes with the library's bytes or ends as a retriable failure that a resubmit
/// completes: none is lost or left `running`. Every wait is bounded; every process started here is killed.
/// </summary>
[Collection(FaultClusterCollection.Name)]
public sealed class FaultTests(ProcessCluster cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan StepWait = TimeSpan.FromSeconds(60);
    private const int CheckpointEvery = 25;

    private Contracts.Orchestrator.OrchestratorClient Client => cluster.Client;

    [Fact]
    public async Task A_replica_killed_mid_stage_hands_the_job_to_its_sibling_with_identical_bytes_and_a_bounded_rerun()
    {
        var clock = Stopwatch.StartNew();
        int siblingPort = LoopbackCluster.FreePort(), orchestratorPort = LoopbackCluster.FreePort();
        await using var sibling = cluster.CreateDenoiser("large-b", "LargeDenoiser", "large", siblingPort);
        await using var orchestrator = cluster.CreateOrchestrator("orchestrator-replicas", orchestratorPort,
            new Dictionary<string, string> { ["small"] = cluster.Address(ProcessCluster.Small),
                ["large"] = $"{cluster.Address(ProcessCluster.Large)},{LoopbackCluster.Address(siblingPort)}" },
            new Dictionary<string, string> { ["Orchestrator__CheckpointEvery"] = CheckpointEvery.ToString(),
                ["Orchestrator__HealthCheckInterval"] = "00:00:00.500" });
        await Task.WhenAll(sibling.StartAsync(ProcessCluster.StartTimeout), orchestrator.StartAsync(ProcessCluster.StartTimeout));
        using var channel = GrpcChannels.Create(LoopbackCluster.Address(orchestratorPort));
        var client = new Contracts.Orchestrator.OrchestratorClient(channel);
        var replicas = new Dictionary<string, ServiceProcess>
            { [ProcessCluster.Large] = cluster[ProcessCluster.Large], ["large-b"] = sibling };
        JobStream? stream = null;
        try
        {
            var expected = FaultRequests.ExpectedAsync(cluster);
            // On a fast machine most of the job can pass while the busy replica is being found (the exporter caches a
            // scrape for a few hundred ms): the kill must leave enough of the stage to interrupt, or the attempt is
            // repeated with a new job.
            const int LeftAtKill = 300;
            List<string> busy = [];
            Dictionary<string, long> after = [];
            for (int attempt = 1; attempt <= 3; attempt++)
            {
                stream?.Dispose();
                stream = new JobStream(client, FaultRequests.LongJob("replica-kill"));
                // Well inside the large stage (steps 400..999).
                Assert.True(await stream.WaitForStepAsync(420, StepWait), $"no step 420: {Describe(stream)}\n{cluster.DescribeAll()}");
                // The replica whose model-run counter moves runs the stage (poll until one moves).
                var before = await RunsAsync(replicas.Keys);
                after = before;
                await ProcessProbes.WaitUntilAsync(async () =>
                    (after = await RunsAsync(replicas.Keys)).Any(a => a.Value != before[a.Key]), TimeSpan.FromSeconds(5));
                output.WriteLine($"attempt {attempt}: runs before {string.Join(", ", before)}; after {string.Join(", ", after)}; " +
                    $"step {stream.LastStep}");
                busy = replicas.Keys.Where(n => after[n] > before[n]).ToList();
                Assert.True(busy.Count == 1,
                    "expected exactly one large replica running the stage: " +
                    $"{string.Join(", ", after.Select(a => $"{a.Key}={a.Value - before[a.Key]}"))}");
                if (stream.LastStep < FaultRequests.LongSteps - LeftAtKill) break;
            }
            Assert.True(stream!.LastStep < FaultRequests.LongSteps - LeftAtKill,
                $"3 jobs passed step {FaultRequests.LongSteps - LeftAtKill} before the replica running them was found");
            string victim = busy[0], survivor = replicas.Keys.Single(n => n != victim);
            long survivorBefore = after[survivor];
            int seenAtKill = stream.LastStep;
            replicas[victim].Kill();
            output.WriteLine($"killed {victim} at step {seenAtKill} ({clock.Elapsed.TotalSeconds:F1} s)");

            var result = await stream.Completion;
            Assert.Equal(JobStatus.Succeeded, result.Job.Status);
            Assert.Equal(await expected, result.Samples.ToFloats("samples"));
            long survivorRuns = await SettledRunsAsync(survivor) - survivorBefore;
            long bound = FaultRequests.LongSteps - seenAtKill + CheckpointEvery;
            output.WriteLine($"{survivor} ran {survivorRuns} model runs after the kill (bound {bound}); " +
                $"progress strictly increasing: {Increasing(stream.Steps)}");
            // It resumed from a checkpoint at most CheckpointEvery steps behind what the caller had seen
            // (a checkpoint goes out before its step's event); it may be ahead of what the caller had seen.
            Assert.InRange(survivorRuns, 1, bound);
            Assert.True(Increasing(stream.Steps), "progress went backwards or repeated after the replica failed");
        }
        finally
        {
            stream?.Dispose();
            if (!cluster[ProcessCluster.Large].IsRunning) await cluster.StartAgainAsync(ProcessCluster.Large);
            output.WriteLine($"total {clock.Elapsed.TotalSeconds:F1} s");
        }
    }

    [Fact]
    public async Task An_orchestrator_killed_mid_job_is_replaced_by_another_that_resumes_it_within_lease_and_a_tick()
    {
        var lease = TimeSpan.FromSeconds(2);
        var settings = new Dictionary<string, string>
            { ["Orchestrator__JobLease"] = lease.ToString(), ["Orchestrator__CheckpointEvery"] = CheckpointEvery.ToString() };
        var pools = new Dictionary<string, string>
            { ["small"] = cluster.Address(ProcessCluster.Small), ["large"] = cluster.Address(ProcessCluster.Large) };
        int firstPort = LoopbackCluster.FreePort(), secondPort = LoopbackCluster.FreePort();
        await using var first = cluster.CreateOrchestrator("orchestrator-first", firstPort, pools, settings);
        await using var second = cluster.CreateOrchestrator("orchestrator-second", secondPort, pools, settings);
        await first.StartAsync(ProcessCluster.StartTimeout);
        var request = FaultRequests.LongJob("orchestrator-kill");
        var expected = FaultRequests.ExpectedAsync(cluster);
        using (var channel = GrpcChannels.Create(LoopbackCluster.Address(firstPort)))
        {
            using var stream = new JobStream(new Contracts.Orchestrator.OrchestratorClient(channel), request);
            Assert.True(await stream.WaitForStepAsync(100, StepWait), Describe(stream));
            first.Kill();
            output.WriteLine($"killed the first orchestrator at step {stream.LastStep}");
        }
        await second.StartAsync(ProcessCluster.StartTimeout);
        var ready = Stopwatch.StartNew();
        using var secondChannel = GrpcChannels.Create(LoopbackCluster.Address(secondPort));
        var client = new Contracts.Orchestrator.OrchestratorClient(secondChannel);
        // The first's lease ran out while the second started; the second's first maintenance round resumes it.
        var bound = lease + lease / 3 + TimeSpan.FromSeconds(5);
        bool resumed = await ProcessProbes.WaitUntilAsync(async () =>
            (await client.GetJobAsync(new GetJobRequest { JobId = request.JobId }))
                is { ResumedFromStep: > 0 } or { Status: JobStatus.Succeeded }, bound);
        output.WriteLine(
            $"resumed {ready.Elapsed.TotalSeconds:F1} s after the second orchestrator was ready (lease {lease.TotalSeconds} s)");
        Assert.True(resumed,
            $"not resumed within {bound.TotalSeconds} s of the second orchestrator being ready\n" +
            $"{cluster.DescribeAll()}\n{second.Describe()}");

        var result = await client.GenerateAsync(request, deadline: DateTime.UtcNow + FaultRequests.JobDeadline);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.InRange(result.Job.ResumedFromStep, 100 - CheckpointEvery, FaultRequests.LongSteps - 1);
        Assert.Equal(await expected, result.Samples.ToFloats("samples"));
    }

    [Fact]
    public async Task Redis_killed_mid_job_and_restarted_from_its_AOF_never_loses_the_job_nor_leaves_it_running()
    {
        var request = FaultRequests.LongJob("redis-kill");
        var expected = FaultRequests.ExpectedAsync(cluster);
        using var stream = new JobStream(Client, request);
        Assert.True(await stream.WaitForStepAsync(100, StepWait), Describe(stream));
        cluster.Kill(ProcessCluster.Redis);
        output.WriteLine($"killed redis at step {stream.LastStep}");
        await Task.Delay(1000);
        await cluster.StartAgainAsync(ProcessCluster.Redis);
        output.WriteLine($"redis back at step {stream.LastStep}");

        GenerateResult result;
        try
        {
            result = await stream.Completion;
            output.WriteLine("the job ran through the outage");
        }
        catch (RpcException ex)
        {
            // A longer outage than the job tolerates: a retriable failure, which the same request resumes.
            output.WriteLine($"the job ended {ex.StatusCode}: {ex.Status.Detail}");
            Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
            result = await Client.GenerateAsync(request, deadline: DateTime.UtcNow + FaultRequests.JobDeadline);
        }
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await expected, result.Samples.ToFloats("samples"));
        Assert.Equal(JobStatus.Succeeded, (await Client.GetJobAsync(new GetJobRequest { JobId = request.JobId })).Status);
    }

    [Fact]
    public async Task Redis_restarted_empty_mid_job_gets_the_job_written_back_by_its_owner_and_it_completes()
    {
        var request = FaultRequests.LongJob("redis-empty");
        var expected = FaultRequests.ExpectedAsync(cluster);
        using var stream = new JobStream(Client, request);
        Assert.True(await stream.WaitForStepAsync(100, StepWait), Describe(stream));
        cluster.Kill(ProcessCluster.Redis);
        // Its data gone, as a Redis without persistence (or a new pod without its volume) comes back.
        var data = new DirectoryInfo(cluster[ProcessCluster.Redis].WorkingDirectory);
        foreach (var entry in data.EnumerateFileSystemInfos())
            if (entry is DirectoryInfo dir) dir.Delete(true); else entry.Delete();
        await cluster.StartAgainAsync(ProcessCluster.Redis);
        output.WriteLine($"redis restarted empty at step {stream.LastStep}");

        var result = await stream.Completion;
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await expected, result.Samples.ToFloats("samples"));
        var stored = await Client.GetJobAsync(new GetJobRequest { JobId = request.JobId });
        Assert.Equal(JobStatus.Succeeded, stored.Status);
        Assert.Contains("written back", cluster[ProcessCluster.Orchestrator].ReadLog());
    }

    [Fact]
    public async Task A_wrong_redis_password_or_a_user_without_the_stores_commands_stops_the_orchestrator_at_start_up_naming_the_setting()
    {
        var server = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.First(File.Exists);
        int redisPort = LoopbackCluster.FreePort();
        var logs = Path.Combine(cluster.LogDirectory);
        await using var redis = new ServiceProcess("redis-auth", server,
            ["--port", redisPort.ToString(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--requirepass", "right-password"],
            new Dictionary<string, string>(), ReadinessProbes.RedisPing(redisPort, anyAnswer: true), Path.Combine(logs, "redis-auth.log"));
        await redis.StartAsync(ProcessCluster.StartTimeout);
        // An ACL user that may read and write hashes and sets but not run scripts, which every store write is.
        await using (var admin = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(
            $"127.0.0.1:{redisPort},password=right-password"))
            await admin.GetDatabase().ExecuteAsync("ACL", "SETUSER", "limited", "on", ">limited-password", "~tstitch:*", "+@hash", "+@set",
                "+@keyspace", "+@string", "+@connection");
        var pools = new Dictionary<string, string>
            { ["small"] = cluster.Address(ProcessCluster.Small), ["large"] = cluster.Address(ProcessCluster.Large) };
        foreach (var (name, connection) in new[]
                 {
                     ("orchestrator-wrongpass", $"127.0.0.1:{redisPort},password=wrong-password"),
                     ("orchestrator-nopass", $"127.0.0.1:{redisPort}"),
                     ("orchestrator-noperm", $"127.0.0.1:{redisPort},user=limited,password=limited-password"),
                 })
        {
            await using var orchestrator = cluster.CreateOrchestrator(name, LoopbackCluster.FreePort(), pools,
                new Dictionary<string, string> { ["Orchestrator__Redis"] = connection });
            var failed = await Assert.ThrowsAsync<ServiceStartException>(() => orchestrator.StartAsync(ProcessCluster.StartTimeout));
            Assert.True(orchestrator.ExitCode is { } code && code != 0, $"{name}: {failed.Message}");
            var log = orchestrator.ReadLog();
            Assert.Contains("Orchestrator:Redis", log);
            Assert.DoesNotContain("right-password", log);
            // What the orchestrator wrote (the harness's own "=====" lines list the environment it was given).
            var serviceLog = string.Join('\n', log.Split('\n').Where(l => !l.StartsWith("=====", StringComparison.Ordinal)));
            Assert.DoesNotContain("limited-password", serviceLog);
            if (name == "orchestrator-noperm") Assert.Contains("+@scripting", log);
            output.WriteLine($"{name}: exit code {orchestrator.ExitCode}; " +
                $"{log.Split('\n').FirstOrDefault(l => l.Contains("rejected") || l.Contains("refused"))}");
        }
    }

    [Fact]
    public async Task Oversized_and_control_character_job_ids_are_invalid_argument_without_growing_the_orchestrator()
    {
        int pid = cluster[ProcessCluster.Orchestrator].Pid!.Value;
        long rssBefore = ProcessProbes.RssKiB(pid);
        var megabyte = new string('x', 1024 * 1024);
        var cases = new[] { ("1 MB", megabyte), ("200 characters", new string('y', 200)), ("control characters", "job\u001b[31m\r\nid") };
        for (int round = 0; round < 3; round++)
        {
            foreach (var (name, id) in cases)
            {
                var request = FaultRequests.LongJob("unused");
                request.JobId = id;
                var ex = await Assert.ThrowsAsync<RpcException>(async () =>
                    await Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddSeconds(20)));
                Assert.True(ex.StatusCode == StatusCode.InvalidArgument, $"{name}: {ex.StatusCode}");
                Assert.Contains("job_id", ex.Status.Detail);
                Assert.True(ex.Status.Detail.Length < 1000, $"{name}: the detail echoes the id ({ex.Status.Detail.Length} characters)");
            }
        }
        foreach (var call in new Func<Task>[]
                 {
                     async () => await Client.GetJobAsync(new GetJobRequest { JobId = megabyte }, deadline: DateTime.UtcNow.AddSeconds(20)),
                     async () => await Client.CancelJobAsync(new CancelJobRequest { JobId = megabyte },
                         deadline: DateTime.UtcNow.AddSeconds(20)),
                 })
        {
            var ex = await Assert.ThrowsAsync<RpcException>(call);
            Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
            // The next call on the same channel still answers.
            var next = await Assert.ThrowsAsync<RpcException>(async () =>
                await Client.GetJobAsync(new GetJobRequest { JobId = "no-such-job" }, deadline: DateTime.UtcNow.AddSeconds(20)));
            Assert.Equal(StatusCode.NotFound, next.StatusCode);
        }
        long rssAfter = ProcessProbes.RssKiB(pid);
        output.WriteLine($"orchestrator RSS {rssBefore / 1024} MiB -> {rssAfter / 1024} MiB after 9 bad Generates (3 of 1 MB) " +
            "and 2 bad lookups of 1 MB");
        Assert.True(rssAfter - rssBefore < 200 * 1024, $"RSS grew by {(rssAfter - rssBefore) / 1024} MiB");
        var log = cluster[ProcessCluster.Orchestrator].ReadLog();
        Assert.DoesNotContain(new string('y', 129), log);
        Assert.DoesNotContain("\u001b[31m", log);
    }

    [Fact]
    public async Task Guidance_out_of_range_and_an_unknown_output_kind_are_invalid_argument()
    {
        var guidance = FaultRequests.LongJob("guidance");
        guidance.GuidanceScale = 1e30f;
        var output99 = FaultRequests.LongJob("output");
        output99.Output = (OutputKind)99;
        foreach (var (request, field) in new[] { (guidance, "guidance_scale"), (output99, "output") })
        {
            var ex = await Assert.ThrowsAsync<RpcException>(async () =>
                await Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddSeconds(20)));
            Assert.True(ex.StatusCode == StatusCode.InvalidArgument, $"{field}: {ex.StatusCode} {ex.Status.Detail}");
            Assert.Contains(field, ex.Status.Detail);
            var missing = await Assert.ThrowsAsync<RpcException>(async () =>
                await Client.GetJobAsync(new GetJobRequest { JobId = request.JobId }));
            Assert.Equal(StatusCode.NotFound, missing.StatusCode); // no job was created
        }
    }

    [Fact]
    public async Task A_callers_deadline_or_disconnect_does_not_burn_the_job_id_but_cancel_is_final()
    {
        // Computed first, so the library run does not compete with the job for the cores.
        var expected = await FaultRequests.ExpectedAsync(cluster);

        // A deadline well inside the job (the long job takes ~2 s on an idle 2-core machine): DEADLINE_EXCEEDED
        // for the caller; the same request resumes it. A short job first, so that the deadline falls inside the job
        // and not in the orchestrator's first connections to its pools.
        await Client.GenerateAsync(new GenerateRequest { ClassLabels = { 0 }, Steps = 2, Output = OutputKind.Raw },
            deadline: DateTime.UtcNow + FaultRequests.JobDeadline);
        var timed = FaultRequests.LongJob("deadline");
        var late = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.GenerateAsync(timed, deadline: DateTime.UtcNow.AddMilliseconds(400)));
        Assert.Equal(StatusCode.DeadlineExceeded, late.StatusCode);
        var stopped = await WaitForJobAsync(timed.JobId, j => j.Status != JobStatus.Running && j.Status != JobStatus.Queued);
        output.WriteLine($"after the deadline: {stopped.Status} at step {stopped.Step}: {stopped.Error}");
        Assert.Equal(JobStatus.Failed, stopped.Status);
        var resumed = await Client.GenerateAsync(timed, deadline: DateTime.UtcNow + FaultRequests.JobDeadline);
        Assert.Equal(JobStatus.Succeeded, resumed.Job.Status);
        output.WriteLine($"resubmitted: resumed from step {resumed.Job.ResumedFromStep}");
        // A job stopped past its first checkpoint resumes from one (never from beyond where it stopped).
        if (stopped.Step >= CheckpointEvery) Assert.True(resumed.Job.ResumedFromStep > 0, "the resubmit started over instead of resuming");
        Assert.InRange(resumed.Job.ResumedFromStep, 0, stopped.Step);
        Assert.Equal(expected, resumed.Samples.ToFloats("samples"));

        // A stream whose client dies: the job stops (nobody waits), and the same request resumes it.
        var left = FaultRequests.LongJob("left");
        using (var stream = new JobStream(Client, left))
        {
            Assert.True(await stream.WaitForStepAsync(100, StepWait), Describe(stream));
            stream.Abandon();
        }
        var abandoned = await WaitForJobAsync(left.JobId, j => j.Status != JobStatus.Running && j.Status != JobStatus.Queued);
        output.WriteLine($"after the client left: {abandoned.Status} at step {abandoned.Step}: {abandoned.Error}");
        var again = await Client.GenerateAsync(left, deadline: DateTime.UtcNow + FaultRequests.JobDeadline);
        Assert.Equal(JobStatus.Succeeded, again.Job.Status);
        Assert.Equal(JobStatus.Cancelled, abandoned.Status);
        Assert.InRange(again.Job.ResumedFromStep, 1, abandoned.Step);
        Assert.Equal(expected, again.Samples.ToFloats("samples"));

        // CancelJob is final: the same request answers CANCELLED.
        var cancelled = FaultRequests.LongJob("cancel");
        using (var stream = new JobStream(Client, cancelled))
        {
            Assert.True(await stream.WaitForStepAsync(20, StepWait), Describe(stream));
            Assert.Equal(JobStatus.Cancelled, (await Client.CancelJobAsync(new CancelJobRequest { JobId = cancelled.JobId })).Status);
        }
        var final = await Assert.ThrowsAsync<RpcException>(async () =>
            await Client.GenerateAsync(cancelled, deadline: DateTime.UtcNow.AddSeconds(30)));
        Assert.Equal(StatusCode.Cancelled, final.StatusCode);
    }

    [Fact]
    public async Task A_second_stream_attaching_to_a_running_job_gets_progress_from_then_on_and_the_result()
    {
        var request = FaultRequests.LongJob("attach");
        var expected = FaultRequests.ExpectedAsync(cluster);
        using var first = new JobStream(Client, request);
        Assert.True(await first.WaitForStepAsync(50, StepWait), Describe(first));
        using var second = new JobStream(Client, request);
        var result = await second.Completion;
        var steps = second.Steps;
        output.WriteLine(
            $"the second stream saw {steps.Count} progress events, steps {(steps.Count > 0 ? $"{steps[0]}..{steps[^1]}" : "none")}");
        Assert.NotEmpty(steps);
        Assert.True(Increasing(steps), "the second stream's steps are not strictly increasing");
        Assert.Equal(FaultRequests.LongSteps, steps[^1]);
        Assert.InRange(steps[0], 51, FaultRequests.LongSteps);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await expected, result.Samples.ToFloats("samples"));
        Assert.Equal(await expected, (await first.Completion).Samples.ToFloats("samples"));
    }

    private async Task<Dictionary<string, long>> RunsAsync(IEnumerable<string> names)
    {
        var runs = new Dictionary<string, long>();
        foreach (var name in names)
            runs[name] = await ProcessProbes.ModelRunsAsync(cluster.MetricsAddress(name))
                         ?? throw new InvalidOperationException(
                             $"{name} serves no {ProcessProbes.ModelRunsMetric} at {cluster.MetricsAddress(name)}/metrics");
        return runs;
    }

    /// <summary>A replica's model runs once its (scrape-cached) counter has stopped moving.</summary>
    private async Task<long> SettledRunsAsync(string name)
    {
        long last = -1;
        for (int i = 0; i < 20; i++)
        {
            long now = await ProcessProbes.ModelRunsAsync(cluster.MetricsAddress(name)) ?? -1;
            if (now == last) return now;
            last = now;
            await Task.Delay(400);
        }
        return last;
    }

    private async Task<Job> WaitForJobAsync(string id, Func<Job, bool> done)
    {
        Job? job = null;
        bool reached = await ProcessProbes.WaitUntilAsync(async () =>
            done(job = await Client.GetJobAsync(new GetJobRequest { JobId = id })), StepWait);
        Assert.True(reached, $"job {id} is still {job?.Status} at step {job?.Step}");
        return job!;
    }

    private static bool Increasing(IReadOnlyList<int> steps) => steps.Zip(steps.Skip(1)).All(p => p.Second > p.First);

    private string Describe(JobStream stream) =>
        $"the stream is at step {stream.LastStep}, {(stream.Completion.IsFaulted
            ? stream.Completion.Exception!.InnerException!.Message
            : stream.Completion.IsCompleted ? "completed" : "open")}\n{cluster.DescribeAll(20)}";
}
