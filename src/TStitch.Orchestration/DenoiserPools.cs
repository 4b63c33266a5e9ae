using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Options;
using TStitch.Protos;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>A pool that cannot be reached; the message names the pool and its address.</summary>
public sealed class PoolUnavailableException(string message, Exception inner) : Exception(message, inner);

/// <summary>
/// The configured denoiser pools, one gRPC channel each (channels are long-lived and multiplex
/// calls). Model info is fetched from the pool once and cached.
/// </summary>
public sealed class DenoiserPools : IDisposable
{
    private readonly OrchestratorOptions _options;
    private readonly Dictionary<string, (GrpcChannel Channel, Protos.Denoiser.DenoiserClient Client, string Address)> _pools = new();
    private readonly Dictionary<string, RemoteDenoiser> _resolved = new();
    private readonly SemaphoreSlim _lock = new(1, 1);

    public DenoiserPools(IOptions<OrchestratorOptions> options)
    {
        _options = options.Value;
        foreach (var (name, address) in _options.Pools)
        {
            var channel = PoolChannel.Create(name, address, _options);
            _pools[name] = (channel, new Protos.Denoiser.DenoiserClient(channel), address);
        }
    }

    public IReadOnlyCollection<string> Names => _pools.Keys;
    public string AddressOf(string pool) => _pools[pool].Address;

    /// <summary>The pools a schedule names, as <see cref="IDenoiser"/>s the trajectory can call.</summary>
    public async Task<IReadOnlyDictionary<string, IDenoiser>> ResolveAsync(IEnumerable<string> poolNames, CancellationToken cancellationToken)
    {
        var result = new Dictionary<string, IDenoiser>();
        foreach (var name in poolNames) result[name] = await ResolveAsync(name, cancellationToken);
        return result;
    }

    private async Task<RemoteDenoiser> ResolveAsync(string name, CancellationToken cancellationToken)
    {
        await _lock.WaitAsync(cancellationToken);
        try
        {
            if (_resolved.TryGetValue(name, out var known)) return known;
            var pool = _pools[name];
            ModelInfo info;
            try
            {
                info = await pool.Client.GetModelInfoAsync(new GetModelInfoRequest(), deadline: DateTime.UtcNow + _options.DenoiseTimeout, cancellationToken: cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded)
            {
                throw Unavailable(name, ex);
            }
            var denoiser = new RemoteDenoiser(name, pool.Client, ToInfo(info), this);
            _resolved[name] = denoiser;
            return denoiser;
        }
        finally { _lock.Release(); }
    }

    internal PoolUnavailableException Unavailable(string pool, RpcException ex) =>
        new($"Denoiser pool '{pool}' at {_pools[pool].Address} is unavailable ({ex.StatusCode}: {ex.Status.Detail}).", ex);

    internal TimeSpan DenoiseTimeout => _options.DenoiseTimeout;
    internal int Attempts => _options.RetryAttempts;
    internal TimeSpan Backoff => _options.RetryBackoff;

    private static DenoiserInfo ToInfo(ModelInfo m) => new(m.Name, m.LatentShape[0], m.LatentShape[1], m.LatentShape[2],
        Enum.Parse<PredictionKind>(m.Prediction == "x0" ? "X0" : m.Prediction, ignoreCase: true), m.NumClasses, m.NullClassId,
        Enum.Parse<ScheduleKind>(m.Schedule, ignoreCase: true), m.TrainingSteps, m.RelativeCost);

    public void Dispose()
    {
        foreach (var p in _pools.Values) p.Channel.Dispose();
        _lock.Dispose();
    }
}

/// <summary>An <see cref="IDenoiser"/> that is a remote pool: one Denoise RPC per call.</summary>
internal sealed class RemoteDenoiser(string pool, Protos.Denoiser.DenoiserClient client, DenoiserInfo info, DenoiserPools pools) : IDenoiser
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
        // retries for calls that time out (a stuck replica) or break mid-call, which it cannot retry.
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                var reply = await client.DenoiseAsync(request, deadline: DateTime.UtcNow + pools.DenoiseTimeout, cancellationToken: cancellationToken);
                return reply.Output.ToFloats("output");
            }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.Cancelled && cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.DeadlineExceeded or StatusCode.Internal && attempt < pools.Attempts)
            {
                // Denoise is a pure function, so re-sending it is safe; Internal here is almost always
                // a replica that went away mid-call (the response ended prematurely).
                await Task.Delay(pools.Backoff * attempt, cancellationToken);
            }
            catch (RpcException ex) when (ex.StatusCode is StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.ResourceExhausted or StatusCode.Internal)
            {
                throw pools.Unavailable(Pool, ex);
            }
        }
    }
}
