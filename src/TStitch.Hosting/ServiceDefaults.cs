using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TStitch.Hosting.Errors;

namespace TStitch.Hosting;

/// <summary>
/// One place for what every TStitch service does the same way (dotnet/eShop's ServiceDefaults):
/// gRPC with error mapping, health checks, reflection, HTTP/2 without TLS, OpenTelemetry traces
/// exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT is set.
/// </summary>
public static class ServiceDefaults
{
    /// <summary>Activity sources of our own that traces should include.</summary>
    public static readonly string[] ActivitySources = ["TStitch.Sampling", "TStitch.Orchestrator", "TStitch.Denoising"];
    /// <summary>Meters of our own (batch sizes, queue waits).</summary>
    public static readonly string[] Meters = ["TStitch.Denoising"];

    public static IHostApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        // gRPC over cleartext HTTP/2 inside the cluster; TLS terminates at the ingress.
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ConfigureEndpointDefaults(o => o.Protocols = HttpProtocols.Http2);
            // Tensor-sized messages: without large windows each one waits on flow-control round trips.
            k.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
        });
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<ErrorMappingInterceptor>();
            o.MaxReceiveMessageSize = 64 * 1024 * 1024;
            o.MaxSendMessageSize = 64 * 1024 * 1024;
        });
        builder.Services.AddGrpcReflection();
        // Health Check answers from the live checks, not a periodically published cache, so a
        // replica that starts draining stops getting traffic at the balancer's next check.
        builder.Services.AddGrpcHealthChecks(o => o.UseHealthChecksCache = false).AddCheck("self", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());
        builder.ConfigureOpenTelemetry(serviceName);
        return builder;
    }

    public static IHostApplicationBuilder ConfigureOpenTelemetry(this IHostApplicationBuilder builder, string serviceName)
    {
        // Without an exporter nobody reads the spans, so don't pay for recording them on every call.
        if (string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]))
            return builder;
        builder.Services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService(serviceName))
            .WithTracing(t => t
                .AddSource(ActivitySources)
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/grpc.health"))
                .AddGrpcClientInstrumentation())
            .WithMetrics(m => m.AddMeter(Meters))
            .UseOtlpExporter();
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        return app;
    }
}
