namespace TStitch.Orchestration.Frontier;

/// <summary>
/// How long the jobs the load controller governs (a tier, a budget or no schedule) took from submit to
/// their result, over the last <see cref="PoolStepTimes.Window"/>: what
/// <see cref="OrchestratorOptions.LatencyTarget"/> is about, measured rather than predicted. It catches
/// what the controller's prediction leaves out (the orchestrator's own work per job, the spread of
/// latencies under bursty arrivals) and lags it by about one job's latency. With each latency it keeps
/// the job's run time (from getting a running slot to its result), which is what a slot is busy for.
/// </summary>
public sealed class JobLatencies(TimeProvider time)
{
    private readonly Queue<(long At, double Ms, double RunMs)> _recent = new();

    public JobLatencies() : this(TimeProvider.System) { }

    /// <param name="ms">Submit to result.</param>
    /// <param name="runMs">Running slot to result (NaN when unknown: the job then counts for latency and rate only).</param>
    public void Observe(double ms, double runMs = double.NaN)
    {
        if (!double.IsFinite(ms) || ms < 0) return;
        lock (_recent)
        {
            _recent.Enqueue((time.GetTimestamp(), ms, runMs));
            Trim();
        }
    }

    /// <summary>Mean run time (running slot to result) of the window's jobs that reported one, or null when none did.</summary>
    public double? MeanRunMs
    {
        get
        {
            lock (_recent)
            {
                Trim();
                var known = _recent.Where(r => double.IsFinite(r.RunMs) && r.RunMs >= 0).Select(r => r.RunMs).ToList();
                return known.Count == 0 ? null : known.Average();
            }
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
