using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>A pool that cannot be reached; the message names the pool and its address.</summary>
public sealed class PoolUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The configured denoiser pools, one gRPC channel each (long-lived, multiplexing calls over the
/// pool's replicas, see <see cref="PoolChannel"/>). A pool's model info is fetched once and cached;
/// a failed lookup is not cached, so the next job asks again. Changing a pool's model (shape,
/// classes) needs an orchestrator restart.
/// </summary>
public sealed class DenoiserPools : IDisposable
{
    private readonly OrchestratorOptions _options;
    private readonly Dictionary<string, (GrpcChannel Channel, Contracts.Denoiser.DenoiserClient Client, string Address)> _pools = new();
    private readonly ConcurrentDictionary<string, Lazy<Task<RemoteDenoiser>>> _resolved = new();

    public DenoiserPools(IOptions<OrchestratorOptions> options, ILoggerFactory? loggerFactory = null)
    {
        _options = options.Value;
        foreach (var (name, address) in _options.Pools)
        {
            var channel = PoolChannel.Create(name, address, _options, loggerFactory);
            _pools[name] = (channel, new Contracts.Denoiser.DenoiserClient(channel), address);
        }
    }

    public IReadOnlyCollection<string> Names => _pools.Keys;

    /// <summary>The pools a schedule names, as <see cref="IDenoiser"/>s the trajectory can call.</summary>
    public async Task<IReadOnlyDictionary<string, IDenoiser>> ResolveAsync(IEnumerable<string> poolNames, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, IDenoiser>();
        foreach (var name in poolNames) result[name] = await ResolveAsync(name, cancellationToken);
        return result;
    }

    private async Task<RemoteDenoiser> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        // One lookup per pool at a time, and a slow pool does not hold up the others.
        var lookup = _resolved.GetOrAdd(name, n => new Lazy<Task<RemoteDenoiser>>(() => LookUpAsync(n)));
        try
        {
            return await lookup.Value.WaitAsync(cancellationToken);
        }
        catch (Exception) when (lookup.Value.IsFaulted)
        {
            _resolved.TryRemove(new KeyValuePair<string, Lazy<Task<RemoteDenoiser>>>(name, lookup));
            throw;
        }
    }

    private async Task<RemoteDenoiser> LookUpAsync(string name)
    {
        var pool = _pools[name];
        try
        {
            var info = await pool.Client.GetModelInfoAsync(new GetModelInfoRequest(), deadline: DateTime.UtcNow + _options.DenoiseTimeout);
            return new RemoteDenoiser(name, pool.Client, ToInfo(info), this);
        }
        catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
        {
            throw Unavailable(name, ex);
        }
    }

    internal PoolUnavailableException Unavailable(string pool, RpcException ex) =>
        new($"Denoiser pool '{pool}' at {_pools[pool].Address} is unavailable ({ex.StatusCode}: {ex.Status.Detail}).", ex);

    internal TimeSpan DenoiseTimeout => _options.DenoiseTimeout;
    internal int Attempts => _options.RetryAttempts;
    internal TimeSpan Backoff => _options.RetryBackoff;

    private static DenoiserInfo ToInfo(ModelInfo m) => new(m.Name, m.LatentShape[0], m.LatentShape[1], m.LatentShape[2],
        Enum.Parse<PredictionKind>(m.Prediction, ignoreCase: true), m.NumClasses, m.NullClassId,
        Enum.Parse<ScheduleKind>(m.Schedule, ignoreCase: true), m.TrainingSteps, m.RelativeCost);

    public void Dispose()
    {
        foreach (var p in _pools.Values) p.Channel.Dispose();
    }
}

/// <summary>An <see cref="IDenoiser"/> that is a remote pool: one Denoise RPC per call.</summary>
internal sealed class RemoteDenoiser(string pool, Contracts.Denoiser.DenoiserClient client, DenoiserInfo info, DenoiserPools pools) : IDenoiser
{
    public DenoiserInfo Info { get; } = info;
    public string Pool { get; } = pool;

    public async Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        var request = new DenoiseRequest
        {
            Latents = TensorMessages.WrapFloats(input.Latents, input.Batch, Info.Channels, Info.Height, Info.Width),
            GuidanceScale = input.GuidanceScale,
            JobId = System.Diagnostics.Activity.Current?.GetBaggageItem("tstitch.job") ?? "",
        };
        request.Timesteps.AddRange(input.Timesteps);
        request.ClassLabels.AddRange(input.ClassLabels);
        // gRPC's retry policy already re-sends Unavailable calls to other replicas; this loop adds
        // retries for calls that time out (a stuck replica), break mid-call (Internal) or are cut off
        // by a replica shutting down (Cancelled without our asking): Denoise is a pure function, so
        // sending it again is safe.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var reply = await client.DenoiseAsync(request, deadline: DateTime.UtcNow + pools.DenoiseTimeout, cancellationToken: cancellationToken);
                return reply.Output.ToFloats("output");
            }
            catch (RpcException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Internal or StatusCode.Cancelled && attempt < pools.Attempts)
            {
                await Task.Delay(pools.Backoff * attempt, cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted
                                              or StatusCode.Internal or StatusCode.Cancelled)
            {
                throw pools.Unavailable(Pool, ex);
            }
        }
    }
}
