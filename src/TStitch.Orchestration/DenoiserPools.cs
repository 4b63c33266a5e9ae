using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting.Auth;

namespace TStitch.Orchestration;

/// <summary>
/// The configured denoiser pools, one gRPC channel each (long-lived, multiplexing calls over the
/// pool's replicas, see <see cref="PoolChannel"/>). A pool's model info is fetched once and cached;
/// a failed lookup is not cached, so the next job asks again. Changing a pool's model (shape,
/// classes) needs an orchestrator restart.
/// </summary>
public sealed class DenoiserPools : IDisposable
{
    private readonly OrchestratorOptions _options;
    private readonly PoolRetry _retry;
    private readonly Dictionary<string, (GrpcChannel Channel, Contracts.Denoiser.DenoiserClient Client, string Address)> _pools = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<PoolClient>>> _resolved = new();

    public DenoiserPools(IOptions<OrchestratorOptions> options, IOptions<AuthOptions> auth, ILoggerFactory? loggerFactory = null)
    {
        _options = options.Value;
        _retry = new PoolRetry(_options);
        // Every pool call (GetModelInfo, Denoise, RunStage) carries the service token when one is set.
        var transport = PoolTransport.From(_options, auth.Value.ServiceToken);
        foreach (var (name, address) in _options.Pools)
        {
            var channel = PoolChannel.Create(name, address, _options, transport, loggerFactory);
            _pools[name] = (channel, new Contracts.Denoiser.DenoiserClient(transport.Invoker(channel)), address);
        }
    }

    public IReadOnlyCollection<string> Names => _pools.Keys;

    /// <summary>The pools a schedule names, with their models' descriptions.</summary>
    public async Task<IReadOnlyDictionary<string, PoolClient>> ResolveAsync(IEnumerable<string> poolNames,
        CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, PoolClient>();
        foreach (var name in poolNames) result[name] = await ResolveAsync(name, cancellationToken);
        return result;
    }

    private async Task<PoolClient> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        // One lookup per pool at a time, and a slow pool does not hold up the others.
        var lookup = _resolved.GetOrAdd(name, n => new Lazy<Task<PoolClient>>(() => LookUpAsync(n)));
        try
        {
            return await lookup.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (lookup.Value.IsFaulted)
        {
            _resolved.TryRemove(new KeyValuePair<string, Lazy<Task<PoolClient>>>(name, lookup));
            throw;
        }
    }

    private async Task<PoolClient> LookUpAsync(string name)
    {
        var (_, client, address) = _pools[name];
        var info = await _retry.CallAsync(name, address,
            async () => await client.GetModelInfoAsync(new GetModelInfoRequest(), deadline: DateTime.UtcNow + _options.StepTimeout),
            CancellationToken.None);
        return new PoolClient(name, address, client, info, _options, _retry);
    }

    public void Dispose()
    {
        foreach (var p in _pools.Values) p.Channel.Dispose();
    }
}
