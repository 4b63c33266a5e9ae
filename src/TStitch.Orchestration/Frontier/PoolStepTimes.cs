using System.Collections.Concurrent;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// Live cost of a step on each pool, in milliseconds per image: an exponential moving average of what
/// running jobs observe between their step events. It corrects the profile's measured costs (another
/// machine, another load) when predicting a schedule's latency, and is the controller's view of the
/// large pool's load.
/// </summary>
public sealed class PoolStepTimes
{
    /// <summary>Weight of the newest observation: about the last 10 steps dominate.</summary>
    public const double Alpha = 0.2;

    private readonly ConcurrentDictionary<string, double> _msPerImage = new();

    /// <summary>One step of <paramref name="batch"/> images on <paramref name="pool"/> took <paramref name="ms"/>.</summary>
    public void Observe(string pool, double ms, int batch)
    {
        if (!double.IsFinite(ms) || ms < 0 || batch < 1) return;
        double perImage = ms / batch;
        _msPerImage.AddOrUpdate(pool, perImage, (_, old) => old + Alpha * (perImage - old));
    }

    /// <summary>The moving average for a pool, or null before any step was seen there.</summary>
    public double? MsPerImage(string pool) => _msPerImage.TryGetValue(pool, out var v) ? v : null;
}
