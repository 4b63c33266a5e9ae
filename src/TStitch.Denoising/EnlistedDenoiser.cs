using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>
/// One stage run's view of the replica's <see cref="DynamicBatcher"/> (<see cref="DynamicBatcher.Enlist"/>):
/// its calls tell the batcher they belong to a run that will call again after every step, so a run can
/// wait briefly for the other enlisted runs' next steps instead of starting with whoever came back first.
/// Dispose when the stage run ends.
/// </summary>
public sealed class EnlistedDenoiser : IDenoiser, IDisposable
{
    private readonly DynamicBatcher _batcher;
    private int _disposed;

    internal EnlistedDenoiser(DynamicBatcher batcher) => _batcher = batcher;

    public DenoiserInfo Info => _batcher.Info;

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default) =>
        _batcher.DenoiseAsync(input, enlisted: true, cancellationToken);

    public void Recycle(float[] output) => _batcher.Recycle(output);

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0) _batcher.Leave();
    }
}
