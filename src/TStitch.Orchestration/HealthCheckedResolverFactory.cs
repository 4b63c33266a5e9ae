using Grpc.Net.Client.Balancer;

namespace TStitch.Orchestration;

/// <summary>Creates a <see cref="HealthCheckedResolver"/> for a pool's "tstitch-pool:///" channel (its replica list).</summary>
public sealed class HealthCheckedResolverFactory(IReadOnlyList<Uri> replicas, TimeSpan interval, PoolTransport transport) : ResolverFactory
{
    public const string Scheme = "tstitch-pool";
    public override string Name => Scheme;
    public override Resolver Create(ResolverOptions options) => new HealthCheckedResolver(replicas, interval, transport,
        options.LoggerFactory);
}
