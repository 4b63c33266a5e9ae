using System.Diagnostics;

namespace TStitch.Process.Tests.Otlp;

/// <summary>Every metric data point the receiver got, in arrival order; thread-safe, with bounded waits.</summary>
public sealed class MetricStore
{
    private readonly List<ReceivedMetricPoint> _points = new();
    private readonly object _lock = new();

    public void Add(IEnumerable<ReceivedMetricPoint> points)
    {
        lock (_lock) _points.AddRange(points);
    }

    public IReadOnlyList<ReceivedMetricPoint> All
    {
        get { lock (_lock) return _points.ToList(); }
    }

    public IReadOnlyList<ReceivedMetricPoint> Points(string service, string name) =>
        All.Where(p => p.Service == service && p.Name == name).ToList();

    /// <summary>
    /// The newest exported point per attribute set of <paramref name="name"/> in <paramref name="service"/>;
    /// for cumulative counters and histograms these are the current totals.
    /// </summary>
    public IReadOnlyList<ReceivedMetricPoint> Latest(string service, string name) =>
        Points(service, name).GroupBy(p => string.Join(",", p.Attributes.OrderBy(a => a.Key).Select(a => $"{a.Key}={a.Value}")))
            .Select(g => g.MaxBy(p => p.TimeUnixNano)!).ToList();

    /// <summary>Polls until <paramref name="predicate"/> holds or <paramref name="timeout"/> passes; returns whether it held.</summary>
    public async Task<bool> WaitUntilAsync(Func<MetricStore, bool> predicate, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (predicate(this)) return true;
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(50);
        }
    }

    public string Summary() => string.Join("\n", All.GroupBy(p => (p.Service, p.Name)).OrderBy(g => g.Key).Select(g =>
        $"{g.Key.Service} {g.Key.Name} ({g.First().Kind}): {g.Count()} points"));
}
