using TStitch.LocalCluster;
using System.Diagnostics;
using Grpc.Core;
using Grpc.Net.Client;
using TStitch.Contracts;
using TStitch.Hosting;
using TStitch.Process.Tests.Metrics;
using Xunit.Abstractions;

namespace TStitch.Process.Tests;

/// <summary>
/// Graceful shutdown (SIGTERM, as Kubernetes sends after preStop) on separate processes: a denoiser
/// replica hands its stage run back with a checkpoint and the job finishes on a sibling; an
/// orchestrator releases its job and another orchestrator sharing the Redis resumes it. Either way the
/// job ends with the library's bytes and the stopped process exits 0. These tests start their own
/// processes (the fixture's stay untouched for the other tests).
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class DrainTests(ProcessCluster cluster, ITestOutputHelper output)
{
    /// <summary>SIGTERM to exit: the host's shutdown timeout plus room for process exit.</summary>
    private static readonly TimeSpan ExitBound = ServiceDefaults.DefaultShutdownTimeout + TimeSpan.FromSeconds(15);
    private static readonly TimeSpan JobBound = TimeSpan.FromSeconds(120);

    /// <summary>
    /// Long enough to be stopped mid-stage even on a fast machine: all steps on the large pool, 16 images with guidance
    /// (32 rows, still one model run a step).
    /// </summary>
    private static GenerateRequest LongJob(string prefix, int steps) => new()
    {
        ClassLabels = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1, 2, 3, 4, 5 }, Steps = steps, SmallFraction = 0, Seed = 11,
        GuidanceScale = 4, Output = OutputKind.Raw, JobId = $"{prefix}-{Guid.NewGuid():N}",
    };

    [Fact]
    public async Task A_terminated_denoiser_hands_its_stage_back_and_the_job_finishes_on_its_sibling_with_the_same_bytes()
    {
        const int steps = 1000;
        // Distinct service names, so each replica's OTLP metrics (also exported on shutdown) can be told apart.
        string[] names = ["large-a", "large-b"];
        var replicas = names.Select(n => cluster.CreateDenoiser(n, "LargeDenoiser", "large", LoopbackCluster.FreePort(),
            new Dictionary<string, string> { ["OTEL_SERVICE_NAME"] = n })).ToArray();
        int port = LoopbackCluster.FreePort();
        var orchestrator = cluster.CreateOrchestrator("orchestrator-drain", port, new Dictionary<string, string>
        {
            ["small"] = cluster.Address(ProcessCluster.Small),
            ["large"] = string.Join(",", replicas.Select(r => r.Environment["Urls"])),
        });
        await using var cleanup = new Processes([.. replicas, orchestrator]);
        await Task.WhenAll(replicas.Select(r => r.StartAsync(ProcessCluster.StartTimeout)));
        await orchestrator.StartAsync(ProcessCluster.StartTimeout);
        using var channel = GrpcChannels.Create(LoopbackCluster.Address(port));
        var client = new Contracts.Orchestrator.OrchestratorClient(channel);

        var request = LongJob("drain-denoiser", steps);
        using var call = client.GenerateStream(request, deadline: DateTime.UtcNow + JobBound);
        await ReadUntilStepAsync(call, 10);
        // The replica running the stage is the one whose model has run (both started fresh).
        var runs = await Task.WhenAll(names.Select(async n =>
            (await MetricsScraper.ScrapeAsync(cluster.MetricsAddress(n))).Sum("tstitch_denoiser_batch_rows_count")));
        Assert.True(runs.Count(r => r > 0) == 1, $"Exactly one replica should be running the stage; model runs: {string.Join(", ", runs)}");
        int busy = runs[0] > 0 ? 0 : 1;
        output.WriteLine($"stage running on {names[busy]} ({runs[busy]} runs); SIGTERM");

        var clock = Stopwatch.StartNew();
        bool exited = await replicas[busy].TerminateAsync(ExitBound);
        Assert.True(exited, $"{names[busy]} did not exit within {ExitBound.TotalSeconds} s of SIGTERM.\n{replicas[busy].Describe(40)}");
        Assert.True(replicas[busy].ExitCode == 0, $"{names[busy]} exited with {replicas[busy].ExitCode}.\n{replicas[busy].Describe(40)}");
        output.WriteLine($"{names[busy]} exited 0 after {clock.Elapsed.TotalSeconds:F1} s");
        // Its log says so, on a line that carries the job id (the request's log scope).
        Assert.Contains(replicas[busy].ReadLog().Split('\n'),
            l => l.Contains("was handed back at step") && l.Contains($"JobId:{request.JobId}"));

        var result = await ReadResultAsync(call);
        Assert.True(result.Job.Status == JobStatus.Succeeded, $"{result.Job.Status} {result.Job.Error}\n{orchestrator.Describe(40)}");
        LibraryBytes.AssertIdentical(await LibraryBytes.ComputeAsync(cluster.ZooDirectory, request),
            result.Samples.ToFloats("samples"), "drained job");

        // No step ran twice: the replicas' model runs (one per step: a step's 32 rows fit one run) add up to the steps.
        const string rows = "tstitch.denoiser.batch_rows";
        ulong Runs(string service) => cluster.Otlp.Metrics.Latest(service, rows).Aggregate(0UL, (n, p) => n + p.Count);
        await cluster.Otlp.Metrics.WaitUntilAsync(_ => Runs(names[0]) + Runs(names[1]) >= steps, TimeSpan.FromSeconds(15));
        output.WriteLine($"model runs: {names[0]} {Runs(names[0])}, {names[1]} {Runs(names[1])}");
        Assert.True(Runs(names[0]) + Runs(names[1]) == steps,
            $"Model runs {Runs(names[0])} + {Runs(names[1])} should be the job's {steps} steps.");
        Assert.True(Runs(names[1 - busy]) > 0, "The sibling ran none of the steps.");
    }

    [Fact]
    public async Task A_terminated_orchestrator_releases_its_job_and_another_one_resumes_it_with_the_same_bytes()
    {
        const int steps = 600;
        // Their own Redis, so only these two orchestrators can pick the job up.
        var redis = cluster.CreateRedis(LoopbackCluster.FreePort(), "redis-drain");
        var pools = new Dictionary<string, string>
            { ["small"] = cluster.Address(ProcessCluster.Small), ["large"] = cluster.Address(ProcessCluster.Large) };
        int portA = LoopbackCluster.FreePort(), portB = LoopbackCluster.FreePort();
        var extra = new Dictionary<string, string> { ["Orchestrator__Redis"] = $"127.0.0.1:{PortOf(redis)}" };
        var a = cluster.CreateOrchestrator("orchestrator-a", portA, pools, extra);
        var b = cluster.CreateOrchestrator("orchestrator-b", portB, pools, extra);
        await using var cleanup = new Processes([a, b, redis]);
        await redis.StartAsync(ProcessCluster.StartTimeout);
        await Task.WhenAll(a.StartAsync(ProcessCluster.StartTimeout), b.StartAsync(ProcessCluster.StartTimeout));
        using var channelA = GrpcChannels.Create(LoopbackCluster.Address(portA));
        using var channelB = GrpcChannels.Create(LoopbackCluster.Address(portB));
        var clientB = new Contracts.Orchestrator.OrchestratorClient(channelB);

        var request = LongJob("drain-orchestrator", steps);
        using (var call = new Contracts.Orchestrator.OrchestratorClient(channelA).GenerateStream(request,
            deadline: DateTime.UtcNow + JobBound))
        {
            await ReadUntilStepAsync(call, 60); // past two checkpoints (every 25 steps)
            bool exited = await a.TerminateAsync(ExitBound);
            Assert.True(exited && a.ExitCode == 0, $"orchestrator-a: exited {exited}, code {a.ExitCode}.\n{a.Describe(40)}");
        }
        // Released on the way out (not left to expire): the job's log line says so.
        Assert.Contains(a.ReadLog().Split('\n'),
            l => l.Contains($"Job {request.JobId} interrupted by shutdown") && l.Contains($"JobId:{request.JobId}"));

        // B resumes it by itself (nobody submits it again) and finishes it.
        var clock = Stopwatch.StartNew();
        Job job;
        while (true)
        {
            job = await clientB.GetJobAsync(new GetJobRequest { JobId = request.JobId });
            if (job.Status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled || clock.Elapsed > JobBound) break;
            await Task.Delay(200);
        }
        output.WriteLine($"orchestrator-b: {job.Status} after {clock.Elapsed.TotalSeconds:F1} s, resumed from step {job.ResumedFromStep}");
        Assert.True(job.Status == JobStatus.Succeeded, $"{job.Status} {job.Error}\n{b.Describe(40)}");
        Assert.True(job.ResumedFromStep > 0,
            $"The job should have resumed from a checkpoint, not restarted (resumed_from_step {job.ResumedFromStep}).");
        Assert.Contains($"Job {request.JobId} resumes at step", b.ReadLog());

        // The same request again returns the stored result.
        var result = await clientB.GenerateAsync(request, deadline: DateTime.UtcNow + JobBound);
        LibraryBytes.AssertIdentical(await LibraryBytes.ComputeAsync(cluster.ZooDirectory, request),
            result.Samples.ToFloats("samples"), "resumed job");
    }

    private static int PortOf(ServiceProcess redis) => int.Parse(redis.Arguments[redis.Arguments.ToList().IndexOf("--port") + 1]);

    private static async Task ReadUntilStepAsync(AsyncServerStreamingCall<GenerateEvent> call, int step)
    {
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.Progress?.Step >= step) return;
        throw new InvalidOperationException($"The stream ended before step {step}.");
    }

    private static async Task<GenerateResult> ReadResultAsync(AsyncServerStreamingCall<GenerateEvent> call)
    {
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.Result is { } result) return result;
        throw new InvalidOperationException("The stream ended without a result.");
    }

    /// <summary>Kills this test's processes at the end, whatever happened.</summary>
    private sealed class Processes(ServiceProcess[] processes) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            foreach (var p in processes) await p.DisposeAsync();
        }
    }
}
