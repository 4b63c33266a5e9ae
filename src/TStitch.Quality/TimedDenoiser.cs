using System.Diagnostics;
using TStitch.Sampling;

namespace TStitch.Quality;

/// <summary>Wraps a denoiser to add up the time its calls take and the images they carry (a sweep's per-step cost).</summary>
public sealed class TimedDenoiser(IDenoiser inner) : IDenoiser
{
    private long _ticks;
    private long _images;

    public DenoiserInfo Info => inner.Info;

    /// <summary>Milliseconds per image per step so far (NaN before any call).</summary>
    public double MsPerImageStep => _images == 0 ? double.NaN : Stopwatch.GetElapsedTime(0,
        Interlocked.Read(ref _ticks)).TotalMilliseconds / Interlocked.Read(ref _images);

    public async Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        long start = Stopwatch.GetTimestamp();
        var output = await inner.DenoiseAsync(input, cancellationToken);
        Interlocked.Add(ref _ticks, Stopwatch.GetTimestamp() - start);
        Interlocked.Add(ref _images, input.Batch);
        return output;
    }

    public void Recycle(float[] output) => inner.Recycle(output);
}
