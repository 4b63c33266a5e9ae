using Grpc.Core;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Grpc.Net.Client.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>
/// One gRPC channel per pool, spread over the pool's replicas by gRPC client-side load balancing.
/// A pool is configured as one address, a comma-separated list ("http://a:5102,http://b:5102") or a
/// DNS name resolving to every replica ("dns:///large-denoiser.tstitch.svc.cluster.local:5102", a
/// Kubernetes headless Service whose readiness probes keep sick pods out; re-resolved on a timer
/// because the default DNS resolver never refreshes by itself). Address lists go through
/// <see cref="HealthCheckedResolver"/>, which keeps only replicas whose health check is SERVING.
/// Round robin only uses connected replicas. The channel itself does not retry: <see cref="PoolRetry"/>
/// is the one retry mechanism (a stage run resumes from its last checkpoint, which a transport retry
/// cannot do), and a new attempt lands on the next ready replica.
/// </summary>
public static class PoolChannel
{
    public static GrpcChannel Create(string pool, string spec, OrchestratorOptions options, ILoggerFactory? loggerFactory = null)
    {
        var channelOptions = GrpcChannels.Options();
        channelOptions.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        var services = new ServiceCollection();
        var addresses = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string target;
        if (spec.StartsWith("dns:", StringComparison.OrdinalIgnoreCase))
        {
            services.AddSingleton<ResolverFactory>(new DnsResolverFactory(refreshInterval: options.DnsRefreshInterval));
            target = spec;
        }
        else
        {
            var replicas = addresses.Select(a => new Uri(a, UriKind.Absolute)).ToArray();
            services.AddSingleton<ResolverFactory>(new HealthCheckedResolverFactory(replicas, options.HealthCheckInterval));
            target = $"{HealthCheckedResolverFactory.Scheme}:///{pool}";
        }
        channelOptions.Credentials = ChannelCredentials.Insecure;
        channelOptions.LoggerFactory = loggerFactory; // the resolver and balancer log through the app's providers
        channelOptions.ServiceProvider = services.BuildServiceProvider();
        return GrpcChannel.ForAddress(target, channelOptions);
    }

    /// <summary>Checks a pool spec; returns an error message or null.</summary>
    public static string? Validate(string pool, string spec)
    {
        if (spec.StartsWith("dns:", StringComparison.OrdinalIgnoreCase)) return null;
        var bad = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)
            .FirstOrDefault(a => !Uri.TryCreate(a, UriKind.Absolute, out var u) || u.Scheme != Uri.UriSchemeHttp);
        return spec.Trim().Length == 0 || bad is not null
            ? $"Orchestrator:Pools:{pool} = '{spec}': give http://host:port, a comma-separated list of them, or dns:///name:port."
            : null;
    }
}
