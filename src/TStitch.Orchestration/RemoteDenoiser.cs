using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// A pool as an <see cref="IDenoiser"/> for one job's trajectory (step mode): one Denoise RPC per call, tagged with the job.
/// </summary>
public sealed class RemoteDenoiser(PoolClient pool, string jobId) : IDenoiser
{
    public DenoiserInfo Info => pool.Info;

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default) =>
        pool.DenoiseAsync(input, jobId, cancellationToken);
}
