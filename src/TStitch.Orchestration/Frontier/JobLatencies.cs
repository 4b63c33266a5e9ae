namespace TStitch.Orchestration.Frontier;

/// <summary>
/// How long the jobs the load controller governs (a tier, a budget or no schedule) took from submit to
/// their result, over the last <see cref="PoolStepTimes.Window"/>: what
/// <see cref="OrchestratorOptions.LatencyTarget"/> is about, measured rather than predicted. It catches
/// what the controller's prediction leaves out (the orchestrator's own work per job, the spread of
/// latencies under bursty arrivals) and lags it by about one job's latency.
/// </summary>
public sealed class JobLatencies(TimeProvider time)
{
    private readonly Queue<(long At, double Ms)> _recent = new();

    public JobLatencies() : this(TimeProvider.System) { }

    public void Observe(double ms)
    {
        if (!double.IsFinite(ms) || ms < 0) return;
        lock (_recent)
        {
            _recent.Enqueue((time.GetTimestamp(), ms));
            Trim();
        }
    }

    /// <summary>Jobs that ended per second over the window (what the cluster serves now; the arrival rate once no job waits).</summary>
    public double PerSecond
    {
        get
        {
            lock (_recent)
            {
                Trim();
                return _recent.Count / PoolStepTimes.Window.TotalSeconds;
            }
        }
    }

    /// <summary>
    /// The <paramref name="q"/> quantile (linear between ranks) of the window's latencies, or null when no
    /// job ended in it.
    /// </summary>
    public double? Percentile(double q)
    {
        double[] sorted;
        lock (_recent)
        {
            Trim();
            if (_recent.Count == 0) return null;
            sorted = _recent.Select(r => r.Ms).Order().ToArray();
        }
        double position = Math.Clamp(q, 0, 1) * (sorted.Length - 1);
        int lower = (int)Math.Floor(position), upper = (int)Math.Ceiling(position);
        return sorted[lower] + (sorted[upper] - sorted[lower]) * (position - lower);
    }

    private void Trim()
    {
        long now = time.GetTimestamp();
        while (_recent.Count > 0 && time.GetElapsedTime(_recent.Peek().At, now) >= PoolStepTimes.Window) _recent.Dequeue();
    }
}
