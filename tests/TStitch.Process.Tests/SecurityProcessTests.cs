using Grpc.Core;
using TStitch.Contracts;
using TStitch.LocalCluster;

namespace TStitch.Process.Tests;

/// <summary>
/// Authentication and TLS between separate processes, configured by environment variables as containers
/// would be: denoisers on https that accept only the orchestrator's service token, an orchestrator on
/// https that requires an API key.
/// </summary>
[Collection(ProcessClusterCollection.Name)]
public sealed class SecurityProcessTests(ProcessCluster cluster)
{
    private const string ApiKey = "process-test-api-key-0123456789";
    private const string ServiceToken = "process-test-service-token-0123456789";

    [Fact]
    public async Task Api_keys_the_service_token_and_tls_hold_between_processes()
    {
        var certificate = TestCertificate.Create(Path.Combine(cluster.WorkDirectory, "tls"));
        var token = new Dictionary<string, string> { ["Auth__ServiceToken"] = ServiceToken };
        int smallPort = LoopbackCluster.FreePort(), largePort = LoopbackCluster.FreePort(), orchestratorPort = LoopbackCluster.FreePort();
        await using var small = cluster.CreateDenoiser("small-tls", "SmallDenoiser", "small", smallPort, token, certificate);
        await using var large = cluster.CreateDenoiser("large-tls", "LargeDenoiser", "large", largePort, token, certificate);
        await Task.WhenAll(small.StartAsync(ProcessCluster.StartTimeout), large.StartAsync(ProcessCluster.StartTimeout));
        await using var orchestrator = cluster.CreateOrchestrator("orchestrator-tls", orchestratorPort,
            new Dictionary<string, string> { ["small"] = ProcessCluster.HttpsAddress(smallPort),
                ["large"] = ProcessCluster.HttpsAddress(largePort) },
            new Dictionary<string, string>
            {
                ["Auth__ApiKeys__0"] = ApiKey, ["Auth__ServiceToken"] = ServiceToken,
                ["Orchestrator__PoolCaCertificate"] = certificate.CaFile,
            }, certificate);
        await orchestrator.StartAsync(ProcessCluster.StartTimeout);

        using var channel = GrpcChannels.Create(ProcessCluster.HttpsAddress(orchestratorPort), certificate.CaFile);
        var anonymous = new Orchestrator.OrchestratorClient(channel);
        var wrongKey = new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, "not-the-key-but-long-enough"));
        var withKey = new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, ApiKey));
        var deadline = DateTime.UtcNow + ProcessRequests.Deadline;

        foreach (var client in new[] { anonymous, wrongKey })
        {
            var refused = await Assert.ThrowsAsync<RpcException>(async () =>
                await client.GenerateAsync(ProcessRequests.Stitched("no-key"), deadline: deadline));
            Assert.Equal(StatusCode.Unauthenticated, refused.StatusCode);
        }
        var request = ProcessRequests.Stitched("tls");
        var secured = await withKey.GenerateAsync(request, deadline: deadline);
        Assert.Equal(JobStatus.Succeeded, secured.Job.Status);
        var plain = request.Clone();
        plain.JobId = request.JobId + "-plain";
        var reference = await cluster.Client.GenerateAsync(plain, deadline: deadline); // the fixture's cleartext cluster, no credentials
        Assert.Equal(reference.Samples.ToFloats("samples"), secured.Samples.ToFloats("samples"));

        // The denoisers take only the orchestrator's token; cleartext does not reach a TLS port.
        using var denoiserChannel = GrpcChannels.Create(ProcessCluster.HttpsAddress(largePort), certificate.CaFile);
        var direct = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Denoiser.DenoiserClient(denoiserChannel).GetModelInfoAsync(new GetModelInfoRequest(),
                deadline: DateTime.UtcNow.AddSeconds(20)));
        Assert.Equal(StatusCode.Unauthenticated, direct.StatusCode);
        using var cleartext = GrpcChannels.Create(LoopbackCluster.Address(largePort));
        var refusedCleartext = await Assert.ThrowsAsync<RpcException>(async () =>
            await new Denoiser.DenoiserClient(cleartext).GetModelInfoAsync(new GetModelInfoRequest(),
                deadline: DateTime.UtcNow.AddSeconds(20)));
        Assert.NotEqual(StatusCode.OK, refusedCleartext.StatusCode);
    }
}
