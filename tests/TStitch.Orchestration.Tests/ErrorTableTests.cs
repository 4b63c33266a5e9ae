using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using TStitch.Contracts;
using TStitch.Hosting;
using TStitch.Hosting.Errors;
using TStitch.Sampling;

namespace TStitch.Orchestration.Tests;

/// <summary>
/// The one error table, over real gRPC: a server on the shared service defaults throws each failure
/// kind (named in the request) and the client sees that kind's status and message.
/// </summary>
public class ErrorTableTests : IAsyncLifetime
{
    private WebApplication _app = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;
    private Denoiser.DenoiserClient _client = null!;

    public async Task InitializeAsync()
    {
        int port = TStitch.LocalCluster.LoopbackCluster.FreePort();
        var builder = WebApplication.CreateBuilder([$"--urls=http://127.0.0.1:{port}", "--Logging:LogLevel:Default=None"]);
        builder.AddServiceDefaults("error-table-test");
        _app = builder.Build();
        _app.MapGrpcService<ThrowingService>();
        await _app.StartAsync();
        _channel = GrpcChannels.Create($"http://127.0.0.1:{port}");
        _client = new Denoiser.DenoiserClient(_channel);
    }

    public static TheoryData<FailureKind, StatusCode> Kinds => new()
    {
        { FailureKind.InvalidRequest, StatusCode.InvalidArgument },
        { FailureKind.NotFound, StatusCode.NotFound },
        { FailureKind.PoolUnavailable, StatusCode.Unavailable },
        { FailureKind.Overloaded, StatusCode.ResourceExhausted },
        { FailureKind.ShuttingDown, StatusCode.Unavailable },
        { FailureKind.Moved, StatusCode.Unavailable },
        { FailureKind.StoreUnavailable, StatusCode.Unavailable },
        { FailureKind.Cancelled, StatusCode.Cancelled },
        { FailureKind.CallerLeft, StatusCode.Cancelled },
        { FailureKind.DeadlineExceeded, StatusCode.DeadlineExceeded },
        { FailureKind.Unauthenticated, StatusCode.Unauthenticated },
        { FailureKind.Internal, StatusCode.Internal },
    };

    [Theory]
    [MemberData(nameof(Kinds))]
    public async Task Each_failure_kind_answers_its_status_with_its_message(FailureKind kind, StatusCode expected)
    {
        var ex = await Assert.ThrowsAsync<RpcException>(async () =>
            await _client.DenoiseAsync(new DenoiseRequest { JobId = kind.ToString() }));
        Assert.Equal(expected, ex.StatusCode);
        Assert.Equal($"failure {kind}", ex.Status.Detail);
        Assert.Equal(kind == FailureKind.Internal ? FailureKind.Internal : kind is FailureKind.CallerLeft ? FailureKind.Cancelled
            : kind is FailureKind.ShuttingDown or FailureKind.Moved or FailureKind.StoreUnavailable ? FailureKind.PoolUnavailable : kind,
            ErrorTable.FromStatus(ex.StatusCode));
    }

    [Fact]
    public async Task Only_the_projects_validation_errors_are_invalid_argument()
    {
        var validation = await Assert.ThrowsAsync<RpcException>(async () =>
            await _client.DenoiseAsync(new DenoiseRequest { JobId = "validation" }));
        Assert.Equal(StatusCode.InvalidArgument, validation.StatusCode);
        Assert.Equal("steps must be between 1 and 1000, got 0.", validation.Status.Detail);

        // A library's ArgumentException is a bug here, not the caller's fault: Internal, details kept in the log.
        var bug = await Assert.ThrowsAsync<RpcException>(async () => await _client.DenoiseAsync(new DenoiseRequest { JobId = "bug" }));
        Assert.Equal(StatusCode.Internal, bug.StatusCode);
        Assert.DoesNotContain("secret", bug.Status.Detail);
    }

    [Fact]
    public async Task A_cancellation_the_caller_did_not_ask_for_is_unavailable_and_long_messages_are_cut()
    {
        var stopping = await Assert.ThrowsAsync<RpcException>(async () =>
            await _client.DenoiseAsync(new DenoiseRequest { JobId = "stopping" }));
        Assert.Equal(StatusCode.Unavailable, stopping.StatusCode);
        var longMessage = await Assert.ThrowsAsync<RpcException>(async () =>
            await _client.DenoiseAsync(new DenoiseRequest { JobId = "long" }));
        Assert.True(longMessage.Status.Detail.Length <= ErrorMappingInterceptor.MaxDetailLength + 3,
            $"{longMessage.Status.Detail.Length} characters");
    }

    public async Task DisposeAsync()
    {
        _channel.Dispose();
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    /// <summary>Throws what the request's job_id names.</summary>
    private sealed class ThrowingService : Denoiser.DenoiserBase
    {
        public override Task<DenoiseReply> Denoise(DenoiseRequest request, ServerCallContext context) => request.JobId switch
        {
            "validation" => throw new InvalidRequestException("steps", "steps must be between 1 and 1000, got 0."),
            "bug" => throw new ArgumentException("secret internal detail"),
            "stopping" => throw new OperationCanceledException(),
            "long" => throw new ServiceFailureException(FailureKind.Overloaded, new string('x', 100_000)),
            var kind => throw new ServiceFailureException(Enum.Parse<FailureKind>(kind), $"failure {kind}"),
        };
    }
}
