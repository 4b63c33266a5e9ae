using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;

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
            var configuration = WebApplication.CreateBuilder(args.Where(a => !a.StartsWith("--service=", StringComparison.Ordinal)).ToArray()).Configuration;
            int metricsPort = configuration.GetSection(TelemetryOptions.Section).Get<TelemetryOptions>()?.MetricsPort ?? 0;
            string url = ServiceUrls.LoopbackAddress(configuration, skipPort: metricsPort);
            address = service.Length > 0 ? $"{url} ({service})" : url;
            using var channel = GrpcChannel.ForAddress(url);
            var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest { Service = service },
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
}
