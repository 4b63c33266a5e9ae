using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Console;
using Microsoft.Extensions.Options;
using OpenTelemetry.Metrics;
using OpenTelemetry;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Hosting;

/// <summary>
/// One place for what every TStitch service does the same way (dotnet/eShop's ServiceDefaults):
/// gRPC with error mapping, health checks, reflection, HTTP/2 (cleartext, or TLS for https:// urls
/// with Kestrel's certificate configuration), OpenTelemetry traces
/// exported over OTLP only when OTEL_EXPORTER_OTLP_ENDPOINT is set, Prometheus metrics on their own
/// HTTP/1.1 port when Telemetry:MetricsPort is set.
/// </summary>
public static class ServiceDefaults
{
    /// <summary>Activity sources of our own that traces should include.</summary>
    public static readonly string[] ActivitySources = ["TStitch.Sampling", "TStitch.Orchestrator", "TStitch.Denoising"];
    /// <summary>Meters of our own (OrchestratorMetrics, the load controller, DenoisingTelemetry; see docs/observability.md).</summary>
    public static readonly string[] Meters = ["TStitch.Orchestrator", "TStitch.Orchestrator.Load", "TStitch.Denoising"];
    /// <summary>gRPC health service name that reports only whether the process is alive (not whether it takes traffic).</summary>
    public const string LivenessService = "liveness";
    /// <summary>gRPC's length-prefixed framing: 1 byte compressed flag + 4 bytes length per message.</summary>
    public const int GrpcFrameHeaderBytes = 5;
    /// <summary>Configuration key of the graceful-shutdown bound (HostOptions.ShutdownTimeout), e.g. "00:00:30".</summary>
    public const string ShutdownTimeoutKey = "ShutdownTimeout";
    /// <summary>
    /// Long enough for a denoiser to finish its step in flight and hand its stage runs back, and for an
    /// orchestrator to release its jobs; Kubernetes' terminationGracePeriodSeconds must exceed it plus preStop.
    /// </summary>
    public static readonly TimeSpan DefaultShutdownTimeout = TimeSpan.FromSeconds(30);

    public static IHostApplicationBuilder AddServiceDefaults(this WebApplicationBuilder builder, string serviceName)
    {
        var telemetry = builder.Configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>() ?? new TelemetryOptions();
        builder.Services.AddOptions<TelemetryOptions>().BindConfiguration(TelemetryOptions.Section).ValidateDataAnnotations()
            .ValidateOnStart();
        int metricsPort = telemetry.MetricsPort;
        if (metricsPort > 0)
        {
            // Kestrel's Listen* calls would make it ignore Urls / --urls / ASPNETCORE_URLS, so the
            // metrics address is appended to the configured urls instead of listened on directly.
            builder.WebHost.UseUrls([.. ServiceUrls.Configured(builder.Configuration), ServiceUrls.MetricsUrl(builder.Configuration,
                metricsPort)]);
        }
        // gRPC over HTTP/2: cleartext (h2c) for http:// urls, TLS with ALPN h2 for https:// urls (the
        // certificate from Kestrel:Certificates:Default:Path/Password, Kestrel's standard keys). Only
        // the metrics port (Prometheus scrapes over HTTP/1.1) speaks HTTP/1.1.
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.ConfigureEndpointDefaults(o => o.Protocols =
                metricsPort > 0 && o.IPEndPoint?.Port == metricsPort ? HttpProtocols.Http1 : HttpProtocols.Http2);
            // Tensor-sized messages: without large windows each one waits on flow-control round trips.
            k.Limits.Http2.InitialConnectionWindowSize = 32 * 1024 * 1024;
            k.Limits.Http2.InitialStreamWindowSize = 16 * 1024 * 1024;
            // Kestrel's default body limit (30,000,000 bytes) sits below the gRPC message limit, and a
            // body over it fails inside gRPC's reader as UNKNOWN with an error-level stack. At the gRPC
            // limit plus one frame header, gRPC's own size check (RESOURCE_EXHAUSTED) always comes first.
            // Our RPCs take one request message; gRPC lifts the limit itself for client streams.
            k.Limits.MaxRequestBodySize = GrpcChannels.MaxMessageBytes + GrpcFrameHeaderBytes;
            // The configured certificate and its intermediates, read again when their files are replaced (a renewed
            // Secret): Kestrel reads them once for endpoints bound from Urls. Endpoints configured under
            // Kestrel:Endpoints keep Kestrel's own handling (their own certificates, reloaded with the configuration).
            if (!builder.Configuration.GetSection("Kestrel:Endpoints").Exists()
                && ServerCertificate.FromConfiguration(builder.Configuration,
                    k.ApplicationServices.GetRequiredService<ILoggerFactory>().CreateLogger<ServerCertificate>()) is { } certificate)
                k.ConfigureHttpsDefaults(https => https.OnAuthenticate = (_, tls) => tls.ServerCertificateContext = certificate.Context);
        });
        builder.Services.AddGrpc(o =>
        {
            o.Interceptors.Add<ErrorMappingInterceptor>();
            o.MaxReceiveMessageSize = GrpcChannels.MaxMessageBytes;
            o.MaxSendMessageSize = GrpcChannels.MaxMessageBytes;
        });
        builder.Services.AddGrpcReflection();
        // Health Check answers from the live checks, not a periodically published cache, so a
        // replica that starts draining stops getting traffic at the balancer's next check.
        // "" (readiness: every check) and "liveness" (only "self": a replica that is busy or draining
        // is not ready but must not be restarted for it; Kubernetes liveness probes ask for this one).
        builder.Services.AddGrpcHealthChecks(o =>
        {
            o.UseHealthChecksCache = false;
            o.Services.Map(LivenessService, c => c.Name == "self");
        }).AddCheck("self", () => Microsoft.Extensions.Diagnostics.HealthChecks.HealthCheckResult.Healthy());
        var shutdownTimeout = builder.Configuration.GetValue<TimeSpan?>(ShutdownTimeoutKey) ?? DefaultShutdownTimeout;
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = shutdownTimeout);
        // Scopes carry the job id (JobRunner, DenoiserService) onto every log line of a job; one line per
        // entry keeps the id on the line itself (grep, container log collectors). Without a FormatterName
        // the console logger ignores the formatter options, so "simple" is named unless one is configured.
        builder.Services.Configure<ConsoleLoggerOptions>(o => o.FormatterName ??= ConsoleFormatterNames.Simple);
        builder.Services.Configure<SimpleConsoleFormatterOptions>(o => (o.IncludeScopes, o.SingleLine) = (true, true));
        builder.Services.Configure<JsonConsoleFormatterOptions>(o => o.IncludeScopes = true);
        builder.ConfigureOpenTelemetry(serviceName, metricsPort);
        return builder;
    }

    /// <summary>
    /// Traces (and metrics) over OTLP when OTEL_EXPORTER_OTLP_ENDPOINT is set; metrics for Prometheus
    /// when <paramref name="metricsPort"/> is set. Neither: nothing is recorded.
    /// </summary>
    public static IHostApplicationBuilder ConfigureOpenTelemetry(this IHostApplicationBuilder builder, string serviceName,
        int metricsPort = 0)
    {
        // Without an exporter nobody reads the spans, so don't pay for recording them on every call.
        bool otlp = !string.IsNullOrWhiteSpace(builder.Configuration["OTEL_EXPORTER_OTLP_ENDPOINT"]);
        bool prometheus = metricsPort > 0;
        if (!otlp && !prometheus)
            return builder;
        // OTEL_SERVICE_NAME wins (one denoiser image serves both pools in Kubernetes).
        var name = builder.Configuration["OTEL_SERVICE_NAME"] is { Length: > 0 } configured ? configured : serviceName;
        var otel = builder.Services.AddOpenTelemetry().ConfigureResource(r => r.AddService(name));
        if (otlp)
            otel.WithTracing(t => t
                .AddSource(ActivitySources)
                .AddAspNetCoreInstrumentation(o => o.Filter = ctx => !ctx.Request.Path.StartsWithSegments("/grpc.health"))
                .AddGrpcClientInstrumentation());
        otel.WithMetrics(m =>
        {
            m.AddMeter(Meters);
            if (prometheus)
                m.AddAspNetCoreInstrumentation().AddMeter("System.Runtime").AddPrometheusExporter();
        });
        if (otlp)
            otel.UseOtlpExporter();
        return builder;
    }

    public static WebApplication MapDefaultEndpoints(this WebApplication app)
    {
        app.MapGrpcHealthChecksService();
        app.MapGrpcReflectionService();
        int metricsPort = app.Services.GetRequiredService<IOptions<TelemetryOptions>>().Value.MetricsPort;
        if (metricsPort > 0)
            app.MapPrometheusScrapingEndpoint().RequireHost($"*:{metricsPort}");
        return app;
    }
}
