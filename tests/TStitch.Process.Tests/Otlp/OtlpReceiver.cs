using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace TStitch.Process.Tests.Otlp;

/// <summary>
/// A minimal OTLP/gRPC collector inside the test process: Kestrel on a free loopback port (HTTP/2
/// cleartext), serving TraceService and MetricsService Export into <see cref="Spans"/> and
/// <see cref="Metrics"/>. Point OTEL_EXPORTER_OTLP_ENDPOINT at <see cref="Endpoint"/>. Logs are not
/// collected (their Export answers UNIMPLEMENTED).
/// </summary>
public sealed class OtlpReceiver : IAsyncDisposable
{
    private readonly WebApplication _app;

    private OtlpReceiver(WebApplication app, string endpoint)
    {
        _app = app;
        Endpoint = endpoint;
    }

    public string Endpoint { get; }
    public SpanStore Spans => _app.Services.GetRequiredService<SpanStore>();
    public MetricStore Metrics => _app.Services.GetRequiredService<MetricStore>();

    public static async Task<OtlpReceiver> StartAsync(CancellationToken cancellationToken = default)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { Args = [] });
        builder.Logging.ClearProviders();
        builder.WebHost.ConfigureKestrel(k => k.Listen(IPAddress.Loopback, 0, o => o.Protocols = HttpProtocols.Http2));
        builder.Services.AddGrpc(o => o.MaxReceiveMessageSize = 64 * 1024 * 1024);
        builder.Services.AddSingleton<SpanStore>();
        builder.Services.AddSingleton<MetricStore>();
        var app = builder.Build();
        app.MapGrpcService<TraceReceiverService>();
        app.MapGrpcService<MetricsReceiverService>();
        await app.StartAsync(cancellationToken);
        var address = app.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses.Single();
        var port = new Uri(address).Port;
        return new OtlpReceiver(app, $"http://127.0.0.1:{port}");
    }

    public async ValueTask DisposeAsync()
    {
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try { await _app.StopAsync(timeout.Token); }
        finally { await _app.DisposeAsync(); }
    }
}
