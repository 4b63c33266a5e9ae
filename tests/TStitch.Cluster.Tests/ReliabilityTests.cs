using Grpc.Core;
using Microsoft.Extensions.DependencyInjection;
using TStitch.Contracts;
using TStitch.Orchestration;

namespace TStitch.Cluster.Tests;

/// <summary>Issue 9's reliability rules that need no separate processes (those are in TStitch.Process.Tests' FaultTests).</summary>
[Collection(ClusterCollection.Name)]
public class ReliabilityTests(ClusterFixture cluster) : ClusterTestBase(cluster)
{
    [Fact]
    public async Task Non_finite_model_output_is_an_error_naming_the_model_and_timestep_never_ok()
    {
        using var channel = GrpcChannels.Create(Cluster.LargeAddress);
        var client = new Denoiser.DenoiserClient(channel);
        // Finite but huge latents: the model's arithmetic overflows to infinity/NaN.
        var request = new DenoiseRequest
            { Latents = TensorMessages.FromFloats(Enumerable.Repeat(3e38f, 3072).ToArray(), 1, 3, 32, 32), GuidanceScale = 1 };
        request.Timesteps.Add(500);
        request.ClassLabels.Add(3);
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await client.DenoiseAsync(request));
        Assert.NotEqual(StatusCode.OK, ex.StatusCode);
        Assert.Contains("'large'", ex.Status.Detail);
        Assert.Contains("timestep 500", ex.Status.Detail);
        // The replica stays up.
        request.Latents = TensorMessages.FromFloats(new float[3072], 1, 3, 32, 32);
        Assert.Equal(new long[] { 1, 3, 32, 32 }, (await client.DenoiseAsync(request)).Output.Shape);
    }

    [Fact]
    public async Task An_unreachable_job_store_is_unavailable_with_a_short_message_and_not_serving_health()
    {
        int deadPort = ClusterFixture.FreePort();
        // Start-up does not fail: Redis may come up later (only wrong credentials stop the host).
        await using var orchestrator = await Cluster.StartOrchestratorAsync(
            $"--Orchestrator:Redis=127.0.0.1:{deadPort},connectTimeout=500,syncTimeout=1000,asyncTimeout=1000");
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await orchestrator.Client.GenerateAsync(Request(0.4, 10, NewJobId()), deadline: DateTime.UtcNow.AddSeconds(30)));
        Assert.Equal(StatusCode.Unavailable, ex.StatusCode);
        Assert.Contains("job store", ex.Status.Detail);
        Assert.True(ex.Status.Detail.Length < 200, $"{ex.Status.Detail.Length} characters: {ex.Status.Detail}");
        var lookup = await Assert.ThrowsAsync<RpcException>(async () =>
            await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = "any" }, deadline: DateTime.UtcNow.AddSeconds(30)));
        Assert.Equal(StatusCode.Unavailable, lookup.StatusCode);

        var health = await orchestrator.App.Services
            .GetRequiredService<Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckService>().CheckHealthAsync();
        Assert.Equal(Microsoft.Extensions.Diagnostics.HealthChecks.HealthStatus.Unhealthy, health.Status);
        Assert.Contains("job store", health.Entries["job-store"].Description);
    }

    [Fact]
    public async Task Submit_creates_the_job_already_claimed_by_its_submitter()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        var manager = orchestrator.App.Services.GetRequiredService<JobManager>();
        var request = Request(0.4, 10, NewJobId(), OutputKind.Raw);
        var (id, spec) = JobRequestMapping.ToJob(request, MappingOptions);
        await manager.SubmitAsync(id, spec, CancellationToken.None);
        // The first write already names the owner with a live lease: no other orchestrator can claim it in between.
        var stored = await Cluster.Store.GetAsync(id, false);
        Assert.Equal(manager.InstanceId, stored!.Owner);
        Assert.True(stored.LeaseUntil > DateTimeOffset.UtcNow, $"lease until {stored.LeaseUntil}");
        Assert.False(await Cluster.Store.TryClaimAsync(id, "another-orchestrator", DateTimeOffset.UtcNow.AddMinutes(1)));
        // Following it runs it here.
        var result = await orchestrator.Client.GenerateAsync(request);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await InProcessAsync(request), Samples(result));
        // The finished job's last write also ended its lease (no separate release round trip).
        Assert.True((await Cluster.Store.GetAsync(id, false))!.LeaseUntil <= DateTimeOffset.UtcNow);
    }

    [Fact]
    public async Task Job_ids_are_bounded_in_get_and_cancel_too()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync();
        foreach (var id in new[] { new string('z', JobIds.MaxLength + 1), "bad\u0007id", "with space" })
        {
            var get = await Assert.ThrowsAsync<RpcException>(async () =>
                await orchestrator.Client.GetJobAsync(new GetJobRequest { JobId = id }));
            var cancel = await Assert.ThrowsAsync<RpcException>(async () =>
                await orchestrator.Client.CancelJobAsync(new CancelJobRequest { JobId = id }));
            foreach (var ex in new[] { get, cancel })
            {
                Assert.Equal(StatusCode.InvalidArgument, ex.StatusCode);
                Assert.DoesNotContain(id, ex.Status.Detail);
            }
        }
        var ok = Request(0.4, 10, new string('a', JobIds.MaxLength), OutputKind.Raw);
        Assert.Equal(JobStatus.Succeeded, (await orchestrator.Client.GenerateAsync(ok)).Job.Status);
    }
}
