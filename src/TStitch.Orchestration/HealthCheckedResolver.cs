using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;
using Grpc.Net.Client.Balancer;
using Microsoft.Extensions.Logging;

namespace TStitch.Orchestration;

/// <summary>
/// Resolves a pool's fixed replica list to the replicas whose gRPC health check answers SERVING,
/// re-checked every interval and whenever the balancer asks (a connection failed). grpc-dotnet's
/// balancer has no health checking of its own; in Kubernetes, readiness probes do this for dns:///
/// pools, and this resolver does it for address lists. A replica that is up but draining or
/// saturated drops out; one that recovers comes back at the next check. If none is serving, all
/// are offered (panic mode), so a load spike slows jobs down instead of failing them.
/// </summary>
public sealed partial class HealthCheckedResolver : PollingResolver
{
    private readonly (BalancerAddress Address, GrpcChannel Channel, Health.HealthClient Client)[] _replicas;
    private readonly TimeSpan _interval;
    private readonly ILogger _logger;
    private Timer? _timer;
    private string _last = "";

    public HealthCheckedResolver(IReadOnlyList<Uri> replicas, TimeSpan interval, PoolTransport transport,
        ILoggerFactory loggerFactory) : base(loggerFactory)
    {
        _interval = interval;
        _logger = loggerFactory.CreateLogger<HealthCheckedResolver>();
        _replicas = replicas.Select(u =>
        {
            // Same transport as the pool's calls (TLS for https://); the token too, in case the replicas
            // close their health service (Auth:AllowAnonymousHealth=false).
            var channel = GrpcChannel.ForAddress(u.GetLeftPart(UriPartial.Authority), transport.ChannelOptions());
            return (new BalancerAddress(u.Host, u.Port), channel, new Health.HealthClient(transport.Invoker(channel)));
        }).ToArray();
    }

    protected override void OnStarted()
    {
        base.OnStarted();
        _timer = new Timer(_ =>
        {
            // The timer can fire once more while the channel disposes this resolver.
            try { Refresh(); }
            catch (ObjectDisposedException) { }
        }, null, _interval, _interval);
    }

    protected override async Task ResolveAsync(CancellationToken cancellationToken)
    {
        var checks = await Task.WhenAll(_replicas.Select(async r => (r.Address, Serving: await IsServingAsync(r.Client,
            cancellationToken))));
        var healthy = checks.Where(c => c.Serving).Select(c => c.Address).ToList();
        // Panic mode: when no replica says SERVING (all saturated, or the checks themselves failing),
        // offer them all rather than none; calls then meet ResourceExhausted and back off, not fail fast.
        if (healthy.Count == 0) healthy = checks.Select(c => c.Address).ToList();
        var summary = string.Join(", ", checks.Select(c => $"{c.Address.EndPoint}={(c.Serving ? "serving" : "not serving")}"));
        if (summary != _last) LogReplicas(_logger, summary);
        _last = summary;
        Listener(ResolverResult.ForResult(healthy));
    }

    private static async Task<bool> IsServingAsync(Health.HealthClient client, CancellationToken cancellationToken)
    {
        try
        {
            var reply = await client.CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2),
                cancellationToken: cancellationToken);
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException)
        {
            return false;
        }
    }

    protected override void Dispose(bool disposing)
    {
        base.Dispose(disposing); // cancels a resolve in flight before its channels go
        if (disposing)
        {
            _timer?.Dispose();
            foreach (var r in _replicas) r.Channel.Dispose();
        }
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "Pool replicas: {Summary}")]
    private static partial void LogReplicas(ILogger logger, string summary);
}
