using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using TStitch.Contracts;
using TStitch.Denoising;
using TStitch.LocalCluster;
using TStitch.Orchestration;

namespace TStitch.Cluster.Tests;

/// <summary>
/// Security, all off by default: API keys on the orchestrator, the service token between the
/// orchestrator and the denoisers, TLS on every endpoint, and the message size limit.
/// </summary>
[Collection(ClusterCollection.Name)]
public sealed class SecurityTests(ClusterFixture cluster) : ClusterTestBase(cluster), IDisposable
{
    private const string ApiKey = "test-api-key-0123456789abcdef";
    private const string OtherKey = "test-api-key-second-0123456789";
    private const string ServiceToken = "test-service-token-0123456789abcdef";
    private readonly string _tempDirectory = Directory.CreateTempSubdirectory("tstitch-security-").FullName;

    [Fact]
    public async Task Api_keys_are_required_by_the_orchestrator_and_health_stays_open()
    {
        await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Auth:ApiKeys:0={ApiKey}", $"--Auth:ApiKeys:1={OtherKey}");
        using var channel = GrpcChannels.Create(orchestrator.App.Urls.First());
        var request = Request(0.4, 10, NewJobId(), OutputKind.Png, labels: [3]);

        var missing = await Assert.ThrowsAsync<RpcException>(() =>
            new Orchestrator.OrchestratorClient(channel).GenerateAsync(request).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, missing.StatusCode);
        Assert.Contains("authorization: Bearer", missing.Status.Detail);

        var wrong = await Assert.ThrowsAsync<RpcException>(() =>
            new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, ApiKey + "x"))
                .GetJobAsync(new GetJobRequest { JobId = "x" }).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, wrong.StatusCode);
        Assert.DoesNotContain(ApiKey, wrong.Status.Detail);

        // Neither call created the job.
        var authorized = new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, OtherKey));
        var notFound = await Assert.ThrowsAsync<RpcException>(() =>
            authorized.GetJobAsync(new GetJobRequest { JobId = request.JobId }).ResponseAsync);
        Assert.Equal(StatusCode.NotFound, notFound.StatusCode);

        var result = await new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, ApiKey)).GenerateAsync(request);
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        AssertPng(result.Png.ToByteArray(), 36, 36);

        var health = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest());
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, health.Status);
    }

    [Fact]
    public async Task Denoisers_with_a_service_token_refuse_other_callers_and_serve_the_orchestrator()
    {
        var (small, smallAddress) = await Cluster.StartDenoiserAsync("small", $"--Auth:ServiceToken={ServiceToken}");
        var (large, largeAddress) = await Cluster.StartDenoiserAsync("large", $"--Auth:ServiceToken={ServiceToken}");
        await using var _small = small;
        await using var _large = large;

        using var channel = GrpcChannels.Create(smallAddress);
        var anonymous = new Denoiser.DenoiserClient(channel);
        var info = await Assert.ThrowsAsync<RpcException>(() => anonymous.GetModelInfoAsync(new GetModelInfoRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, info.StatusCode);
        var denoise = await Assert.ThrowsAsync<RpcException>(() => anonymous.DenoiseAsync(new DenoiseRequest()).ResponseAsync);
        Assert.Equal(StatusCode.Unauthenticated, denoise.StatusCode);
        using (var stage = anonymous.RunStage(new StageRunRequest()))
            Assert.Equal(StatusCode.Unauthenticated,
                (await Assert.ThrowsAsync<RpcException>(() => stage.ResponseStream.MoveNext(CancellationToken.None))).StatusCode);
        var wrong = new Denoiser.DenoiserClient(GrpcChannels.WithBearerToken(channel, ServiceToken[..^1] + "?"));
        Assert.Equal(StatusCode.Unauthenticated,
            (await Assert.ThrowsAsync<RpcException>(() => wrong.GetModelInfoAsync(new GetModelInfoRequest()).ResponseAsync)).StatusCode);
        // Health stays open, so the orchestrator's replica checks and Kubernetes probes still work.
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving,
            (await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest())).Status);

        // Stage mode (GetModelInfo + RunStage) and step mode (Denoise), over health-checked address lists.
        foreach (var mode in new[] { "stage", "step" })
        {
            await using var orchestrator = await Cluster.StartOrchestratorAsync($"--Auth:ServiceToken={ServiceToken}",
                $"--Orchestrator:Pools:small={smallAddress}", $"--Orchestrator:Pools:large={largeAddress}",
                $"--Orchestrator:RunMode={mode}");
            var request = Request(0.4, 10, NewJobId(), OutputKind.Raw, labels: [1, 4]);
            var result = await orchestrator.Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddSeconds(60));
            Assert.Equal(JobStatus.Succeeded, result.Job.Status);
            Assert.Equal(await InProcessAsync(request), Samples(result));
        }
    }

    [Fact]
    public async Task A_pool_refusing_the_orchestrators_token_is_unavailable_to_the_caller_and_the_job_resumes_once_it_matches()
    {
        var (small, smallAddress) = await Cluster.StartDenoiserAsync("small", $"--Auth:ServiceToken={ServiceToken}");
        var (large, largeAddress) = await Cluster.StartDenoiserAsync("large", $"--Auth:ServiceToken={ServiceToken}");
        await using var _small = small;
        await using var _large = large;
        string[] pools = [$"--Orchestrator:Pools:small={smallAddress}", $"--Orchestrator:Pools:large={largeAddress}"];
        var request = Request(0.4, 10, NewJobId(), OutputKind.Raw, labels: [1, 4]);

        await using (var misconfigured = await Cluster.StartOrchestratorAsync([$"--Auth:ServiceToken={ServiceToken}-old",
                         "--Orchestrator:RetryAttempts=1", .. pools]))
        {
            var ex = await Assert.ThrowsAsync<RpcException>(async () => await misconfigured.Client.GenerateAsync(request));
            Assert.Equal(StatusCode.Unavailable, ex.StatusCode); // not the caller's UNAUTHENTICATED: their key was fine
            Assert.Contains("Auth:ServiceToken", ex.Status.Detail);
        }
        await using var fixedUp = await Cluster.StartOrchestratorAsync([$"--Auth:ServiceToken={ServiceToken}", .. pools]);
        var result = await fixedUp.Client.GenerateAsync(request, deadline: DateTime.UtcNow.AddSeconds(60));
        Assert.Equal(JobStatus.Succeeded, result.Job.Status);
        Assert.Equal(await InProcessAsync(request), Samples(result));
    }

    [Fact]
    public async Task Tls_on_every_endpoint_runs_a_job_with_the_ca_trusted()
    {
        var (pfx, password, caFile) = TestCertificate.Create(_tempDirectory);
        string[] tls = [$"--Kestrel:Certificates:Default:Path={pfx}", $"--Kestrel:Certificates:Default:Password={password}"];
        var apps = new List<WebApplication>();
        try
        {
            var pools = new Dictionary<string, string>();
            foreach (var pool in new[] { "small", "large" })
            {
                string address = $"https://localhost:{LoopbackCluster.FreePort()}";
                var app = DenoiserHost.Create([$"--urls={address}",
                    $"--Denoiser:Model={Path.Combine(Cluster.ZooDirectory, pool + ".json")}",
                    .. LoopbackCluster.QuietLogging, .. tls], $"{pool}-denoiser");
                apps.Add(app);
                await app.StartAsync();
                pools[pool] = address;
            }
            // Address-list pools over https, and a dns:/// pool with PoolTls: both trust the test CA.
            string orchestratorAddress = $"https://localhost:{LoopbackCluster.FreePort()}";
            var orchestrator = OrchestratorApp.Create([$"--urls={orchestratorAddress}", "--Orchestrator:Redis=",
                $"--Orchestrator:Pools:small={pools["small"]}",
                $"--Orchestrator:Pools:large=dns:///localhost:{new Uri(pools["large"]).Port}",
                "--Orchestrator:PoolTls=true", $"--Orchestrator:PoolCaCertificate={caFile}", .. LoopbackCluster.QuietLogging, .. tls]);
            apps.Add(orchestrator);
            await orchestrator.StartAsync();

            using var channel = GrpcChannels.Create(orchestratorAddress, caFile);
            var request = Request(0.4, 10, NewJobId(), OutputKind.Raw, labels: [2, 6]);
            var result = await new Orchestrator.OrchestratorClient(channel).GenerateAsync(request,
                deadline: DateTime.UtcNow.AddSeconds(60));
            Assert.Equal(JobStatus.Succeeded, result.Job.Status);
            Assert.Equal(await InProcessAsync(request), Samples(result));

            // Without the CA the certificate is not trusted; cleartext HTTP/2 is not served on the TLS port.
            using var untrusted = GrpcChannels.Create(orchestratorAddress);
            var refused = await Assert.ThrowsAsync<RpcException>(() =>
                new Health.HealthClient(untrusted).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10))
                    .ResponseAsync);
            // The TLS handshake fails on the client (grpc-dotnet reports it as Internal or Unavailable).
            Assert.True(refused.StatusCode is StatusCode.Unavailable or StatusCode.Internal,
                $"{refused.StatusCode}: {refused.Status.Detail}");
            Assert.IsAssignableFrom<System.Security.Authentication.AuthenticationException>(
                Innermost(refused.Status.DebugException, e => e is System.Security.Authentication.AuthenticationException));
            using var cleartext = GrpcChannels.Create(orchestratorAddress.Replace("https://", "http://"));
            await Assert.ThrowsAsync<RpcException>(() =>
                new Health.HealthClient(cleartext).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10))
                    .ResponseAsync);
        }
        finally
        {
            for (int i = apps.Count - 1; i >= 0; i--) { await apps[i].StopAsync(); await apps[i].DisposeAsync(); }
        }
    }

    [Fact]
    public async Task Oversize_messages_get_a_clear_status_and_the_service_stays_up()
    {
        // The client may send anything: the server's limits are under test.
        var options = GrpcChannels.Options();
        options.MaxSendMessageSize = null;
        using var channel = GrpcChannel.ForAddress(Cluster.SmallAddress, options);
        var client = new Denoiser.DenoiserClient(channel);

        // ~40 MB: above Kestrel's default body limit (30,000,000 bytes), below the gRPC limit; the service's own checks answer.
        var big = await Assert.ThrowsAsync<RpcException>(() => client.DenoiseAsync(Payload(40_000_000)).ResponseAsync);
        Assert.True(big.StatusCode is StatusCode.InvalidArgument or StatusCode.ResourceExhausted, $"{big.StatusCode}: {big.Status.Detail}");

        // Over 64 MiB: gRPC's message limit.
        var huge = await Assert.ThrowsAsync<RpcException>(() =>
            client.DenoiseAsync(Payload(GrpcChannels.MaxMessageBytes + 1024)).ResponseAsync);
        Assert.Equal(StatusCode.ResourceExhausted, huge.StatusCode);

        var info = await client.GetModelInfoAsync(new GetModelInfoRequest());
        Assert.False(string.IsNullOrEmpty(info.Name));
    }

    [Theory]
    [InlineData("https://a:5102,https://b:5102", false, true)]
    [InlineData("http://a:5102", false, true)]
    [InlineData("dns:///a:5102", true, true)]
    [InlineData("http://a:5102,https://b:5102", false, false)]
    [InlineData("http://a:5102", true, false)]
    [InlineData("ftp://a:5102", false, false)]
    public void Pool_addresses_take_http_or_https_with_one_scheme_per_pool(string spec, bool poolTls, bool valid)
    {
        var error = PoolChannel.Validate("large", spec, poolTls);
        Assert.True(valid == error is null, error ?? "accepted");
    }

    private static Exception? Innermost(Exception? ex, Func<Exception, bool> match)
    {
        for (; ex is not null; ex = ex.InnerException) if (match(ex)) return ex;
        return null;
    }

    private static DenoiseRequest Payload(int bytes)
    {
        var request = new DenoiseRequest { Latents = new Tensor { Data = ByteString.CopyFrom(new byte[bytes]) } };
        request.Latents.Shape.AddRange([bytes / 4 / 3072, 3, 32, 32]);
        request.Timesteps.Add(1);
        request.ClassLabels.Add(0);
        return request;
    }

    public void Dispose()
    {
        try { Directory.Delete(_tempDirectory, true); } catch (IOException) { }
    }
}
