using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using TStitch.Contracts;
using TStitch.Hosting;
using TStitch.LocalCluster;
using TStitch.Sampling;

namespace TStitch.Orchestration.Tests;

/// <summary>
/// A pool that answers out of the wire's rules (a bug, or a version the orchestrator does not speak) is the pool's
/// fault: the caller gets INTERNAL naming the pool, never INVALID_ARGUMENT about its own request, and an unexpected
/// exception's message stays in the orchestrator's log. One fake pool over real gRPC, an orchestrator in step mode.
/// </summary>
public class MalformedPoolTests : IAsyncLifetime
{
    private WebApplication _pool = null!, _orchestrator = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;
    private Contracts.Orchestrator.OrchestratorClient _client = null!;
    private string _poolAddress = "";

    public async Task InitializeAsync()
    {
        _poolAddress = LoopbackCluster.Address(LoopbackCluster.FreePort());
        var builder = WebApplication.CreateBuilder([$"--urls={_poolAddress}", .. LoopbackCluster.QuietLogging]);
        builder.AddServiceDefaults("malformed-pool");
        _pool = builder.Build();
        _pool.MapGrpcService<MalformedPool>();
        _pool.MapDefaultEndpoints();
        await _pool.StartAsync();
        (_orchestrator, var address) = await LoopbackCluster.StartOrchestratorHostAsync(
            new Dictionary<string, string> { ["small"] = _poolAddress, ["large"] = _poolAddress }, redis: "",
            ["--Orchestrator:RunMode=step", "--Orchestrator:RetryAttempts=1"]);
        _channel = GrpcChannels.Create(address);
        _client = new Contracts.Orchestrator.OrchestratorClient(_channel);
    }

    private static GenerateRequest Job(int label) => new()
        { ClassLabels = { label }, Steps = 2, SmallFraction = 0.5, Output = OutputKind.Raw };

    [Fact]
    public async Task A_reply_that_breaks_the_wire_rules_is_internal_naming_the_pool()
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _client.GenerateAsync(Job(MalformedPool.BrokenTensor)));
        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains($"'small' at {_poolAddress} answered a malformed reply", ex.Status.Detail);
        Assert.Contains("output has shape [1, 1, 1, 2] but 3 values", ex.Status.Detail);
    }

    [Fact]
    public async Task An_unexpected_exception_in_the_job_is_internal_and_its_message_stays_in_the_log()
    {
        // A well-formed tensor of the wrong size: the sampler's own check throws, which no rule of ours expects.
        var ex = await Assert.ThrowsAsync<RpcException>(async () => await _client.GenerateAsync(Job(MalformedPool.WrongSize)));
        Assert.Equal(StatusCode.Internal, ex.StatusCode);
        Assert.Contains("the orchestrator's log has the details", ex.Status.Detail);
        Assert.DoesNotContain("Model output has", ex.Status.Detail);
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        foreach (var app in new[] { _orchestrator, _pool })
        {
            await app.StopAsync();
            await app.DisposeAsync();
        }
    }

    /// <summary>A one-value-per-pixel model of 1x1x2 latents whose Denoise answers what the class label asks for.</summary>
    private sealed class MalformedPool : Contracts.Denoiser.DenoiserBase
    {
        public const int BrokenTensor = 1, WrongSize = 2;
        private static readonly DenoiserInfo Info = new("fake", 1, 1, 2, PredictionKind.Epsilon, 10, 10, ScheduleKind.Linear, 1000, 1);

        public override Task<ModelInfo> GetModelInfo(GetModelInfoRequest request, ServerCallContext context) =>
            Task.FromResult(ModelInfoMessages.ToMessage(Info, learnedSigma: false, costMsPerSample: 1, maxSamplesPerCall: 64));

        public override Task<DenoiseReply> Denoise(DenoiseRequest request, ServerCallContext context)
        {
            var output = request.ClassLabels[0] == BrokenTensor
                ? new Tensor { Shape = { 1, 1, 1, 2 }, Data = Google.Protobuf.ByteString.CopyFrom(new byte[12]) } // 3 values
                : TensorMessages.FromFloats(new float[3], 3);
            return Task.FromResult(new DenoiseReply { Output = output });
        }
    }
}
