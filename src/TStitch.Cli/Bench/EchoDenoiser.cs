using TStitch.LocalCluster;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using TStitch.Hosting;
using TStitch.Contracts;

namespace TStitch.Cli.Bench;

/// <summary>
/// The floor of one hop: the Denoiser RPC answering with its own latents, no model, no validation,
/// on the same service defaults (Kestrel, interceptors) as a real pool.
/// </summary>
internal sealed class EchoDenoiser : Denoiser.DenoiserBase
{
    public override Task<DenoiseReply> Denoise(DenoiseRequest request, ServerCallContext context) =>
        Task.FromResult(new DenoiseReply { Output = request.Latents, Model = "echo" });

    public static async Task<(WebApplication App, string Address)> StartAsync(CancellationToken cancellationToken)
    {
        int port = LoopbackCluster.FreePort();
        var builder = WebApplication.CreateBuilder([$"--urls={LoopbackCluster.Address(port)}", .. LoopbackCluster.QuietLogging]);
        builder.AddServiceDefaults("echo");
        var app = builder.Build();
        app.MapGrpcService<EchoDenoiser>();
        await app.StartAsync(cancellationToken);
        return (app, LoopbackCluster.Address(port));
    }
}
