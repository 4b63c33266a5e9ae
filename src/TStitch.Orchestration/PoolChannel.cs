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
/// because the default DNS resolver never refreshes by itself). TLS: https:// addresses, or
/// Orchestrator:PoolTls for dns:/// pools (see <see cref="PoolTransport"/> for trust and the
/// service token). Address lists go through
/// <see cref="HealthCheckedResolver"/>, which keeps only replicas whose health check is SERVING.
/// Round robin only uses connected replicas. The channel itself does not retry: <see cref="PoolRetry"/>
/// is the one retry mechanism (a stage run resumes from its last checkpoint, which a transport retry
/// cannot do), and a new attempt lands on the next ready replica.
/// </summary>
public static class PoolChannel
{
    /// <summary>Reconnect backoff of a pool's replicas (well inside PoolRetry's default budget of ~1.5 s).</summary>
    public static readonly (TimeSpan Initial, TimeSpan Max) ReconnectBackoff = (TimeSpan.FromMilliseconds(100), TimeSpan.FromSeconds(1));

    public static GrpcChannel Create(string pool, string spec, OrchestratorOptions options, PoolTransport transport,
        ILoggerFactory? loggerFactory = null)
    {
        var channelOptions = transport.ChannelOptions();
        channelOptions.ServiceConfig = new ServiceConfig { LoadBalancingConfigs = { new RoundRobinConfig() } };
        // A replica that comes back (a restart, a rollout) must be usable again within one retry budget
        // of PoolRetry: gRPC's default reconnect backoff grows to 2 minutes, so a pool whose only replica
        // restarted would stay "unavailable" long after the replica is up.
        channelOptions.InitialReconnectBackoff = ReconnectBackoff.Initial;
        channelOptions.MaxReconnectBackoff = ReconnectBackoff.Max;
        var services = new ServiceCollection();
        var addresses = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        string target;
        bool tls;
        if (spec.StartsWith("dns:", StringComparison.OrdinalIgnoreCase))
        {
            tls = options.PoolTls;
            services.AddSingleton<ResolverFactory>(new DnsResolverFactory(refreshInterval: options.DnsRefreshInterval));
            target = spec;
        }
        else
        {
            var replicas = addresses.Select(a => new Uri(a, UriKind.Absolute)).ToArray();
            tls = replicas[0].Scheme == Uri.UriSchemeHttps; // Validate: one scheme per pool
            services.AddSingleton<ResolverFactory>(new HealthCheckedResolverFactory(replicas, options.HealthCheckInterval, transport));
            target = $"{HealthCheckedResolverFactory.Scheme}:///{pool}";
        }
        // The target is a resolver name, not a url, so the credentials say whether to speak TLS.
        channelOptions.Credentials = tls ? ChannelCredentials.SecureSsl : ChannelCredentials.Insecure;
        channelOptions.LoggerFactory = loggerFactory; // the resolver and balancer log through the app's providers
        channelOptions.ServiceProvider = services.BuildServiceProvider();
        return GrpcChannel.ForAddress(target, channelOptions);
    }

    /// <summary>Checks a pool spec; returns an error message or null.</summary>
    public static string? Validate(string pool, string spec, bool poolTls = false)
    {
        if (spec.StartsWith("dns:", StringComparison.OrdinalIgnoreCase)) return null;
        var addresses = spec.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        var bad = addresses.FirstOrDefault(a => !Uri.TryCreate(a, UriKind.Absolute,
            out var u) || (u.Scheme != Uri.UriSchemeHttp && u.Scheme != Uri.UriSchemeHttps));
        if (spec.Trim().Length == 0 || bad is not null)
            return $"Orchestrator:Pools:{pool} = '{spec}': give http://host:port or https://host:port, a comma-separated list of them, " +
                $"or dns:///name:port.";
        // One channel per pool, so one transport: a list mixing cleartext and TLS replicas is a mistake.
        var schemes = addresses.Select(a => new Uri(a).Scheme).Distinct().ToList();
        if (schemes.Count > 1)
            return $"Orchestrator:Pools:{pool} = '{spec}': mixes http:// and https:// replicas; use one scheme per pool.";
        if (poolTls && schemes[0] == Uri.UriSchemeHttp)
            return $"Orchestrator:Pools:{pool} = '{spec}': Orchestrator:PoolTls is on but the addresses are http://; use https:// " +
                $"addresses.";
        return null;
    }
}
