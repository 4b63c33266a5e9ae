using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using TStitch.Contracts;
using TStitch.Hosting.Auth;

namespace TStitch.Hosting;

/// <summary>
/// `&lt;service&gt; --health-probe`: calls grpc.health.v1.Health/Check on the service's own configured
/// gRPC port over loopback and exits 0 if SERVING, 1 otherwise (container health checks; images
/// have no grpcurl or grpc_health_probe). Reads the same configuration the service would.
/// `--health-probe --service=liveness` asks for the liveness service instead of overall readiness.
/// </summary>
public static class HealthProbe
{
    public const string Flag = "--health-probe";

    /// <summary>If args start with --health-probe, run the probe and exit the process with its code; otherwise return.</summary>
    public static void RunIfRequested(string[] args)
    {
        if (args.Length == 0 || args[0] != Flag) return;
        Environment.Exit(RunAsync(args[1..], Console.Out).GetAwaiter().GetResult());
    }

    /// <summary>Probes the service configured by <paramref name="args"/> (and its appsettings/environment); 0 = SERVING.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TimeSpan? timeout = null)
    {
        string address = "?";
        try
        {
            string service = args.FirstOrDefault(a => a.StartsWith("--service=", StringComparison.Ordinal))?["--service=".Length..] ?? "";
            var configuration = WebApplication.CreateBuilder(args.Where(a => !a.StartsWith("--service=",
                StringComparison.Ordinal)).ToArray()).Configuration;
            int metricsPort = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>()?.MetricsPort ?? 0;
            string url = ServiceUrls.LoopbackAddress(configuration, skipPort: metricsPort);
            address = service.Length > 0 ? $"{url} ({service})" : url;
            using var channel = GrpcChannel.ForAddress(url, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                    { SslOptions = { RemoteCertificateValidationCallback = OwnCertificate(configuration) } },
            });
            // Health is open by default; with Auth:AllowAnonymousHealth=false the probe presents this
            // service's own secret (an API key on the orchestrator, the service token on a denoiser).
            var auth = configuration.GetSection(AuthOptions.Section).Get<AuthOptions>() ?? new AuthOptions();
            var token = auth.ApiKeys.FirstOrDefault(k => k.Length > 0) ?? auth.ServiceToken;
            var reply = await new Health.HealthClient(GrpcChannels.WithBearerToken(channel,
                token)).CheckAsync(new HealthCheckRequest { Service = service },
                deadline: DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(3)));
            output.WriteLine($"{address}: {reply.Status}");
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving ? 0 : 1;
        }
        catch (RpcException ex)
        {
            output.WriteLine($"{address}: {ex.StatusCode} ({ex.Status.Detail})");
            return 1;
        }
        catch (Exception ex)
        {
            output.WriteLine($"{address}: {ex.GetType().Name}: {ex.Message}");
            return 1;
        }
    }

    /// <summary>
    /// The probe calls its own process over loopback, where an https certificate's name (the service's DNS
    /// name) cannot match. So it accepts exactly the certificate the service is configured with
    /// (Kestrel:Certificates:Default, read by <see cref="ServerCertificate"/> as the service reads it, a file
    /// replaced since the service started included), whatever its name or issuer. A service whose certificate
    /// comes from elsewhere (per-endpoint configuration, a development certificate) gets the certificate it shows
    /// accepted: the probe only reads a health status from a port of its own pod.
    /// </summary>
    private static System.Net.Security.RemoteCertificateValidationCallback OwnCertificate(ConfigurationManager configuration)
    {
#pragma warning disable CA5359 // the fallback above: no certificate of its own to compare with
        if (ServerCertificate.FromConfiguration(configuration) is not { } own) return (_, _, _, _) => true;
#pragma warning restore CA5359
        byte[] expected = own.Certificate.RawData;
        return (_, shown, _, _) => shown is not null && shown.GetRawCertData().AsSpan().SequenceEqual(expected);
    }
}
