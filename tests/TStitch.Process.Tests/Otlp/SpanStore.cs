using System.Diagnostics;

namespace TStitch.Process.Tests.Otlp;

/// <summary>Every span the receiver got, in arrival order; thread-safe, with bounded waits.</summary>
public sealed class SpanStore
{
    private readonly List<ReceivedSpan> _spans = new();
    private readonly object _lock = new();

    public void Add(IEnumerable<ReceivedSpan> spans)
    {
        lock (_lock) _spans.AddRange(spans);
    }

    public IReadOnlyList<ReceivedSpan> All
    {
        get { lock (_lock) return _spans.ToList(); }
    }

    public int Count
    {
        get { lock (_lock) return _spans.Count; }
    }

    public SpanTrace Trace(string traceId) => new(traceId, All);
    public IReadOnlyList<ReceivedSpan> Named(string name) => All.Where(s => s.Name == name).ToList();
    public ReceivedSpan? Find(Func<ReceivedSpan, bool> predicate) => All.FirstOrDefault(predicate);

    /// <summary>Polls until <paramref name="predicate"/> holds or <paramref name="timeout"/> passes; returns whether it held.</summary>
    public async Task<bool> WaitUntilAsync(Func<SpanStore, bool> predicate, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (predicate(this)) return true;
            if (clock.Elapsed > timeout) return false;
            await Task.Delay(25);
        }
    }

    /// <summary>Polls until <paramref name="probe"/> finds something, or returns null after <paramref name="timeout"/>.</summary>
    public async Task<T?> WaitForAsync<T>(Func<SpanStore, T?> probe, TimeSpan timeout) where T : class
    {
        T? found = null;
        await WaitUntilAsync(s => (found = probe(s)) is not null, timeout);
        return found;
    }

    /// <summary>One line per service: how many spans of which names were received (for failure messages).</summary>
    public string Summary() => string.Join("\n", All.GroupBy(s => s.Service).OrderBy(g => g.Key).Select(g =>
        $"{g.Key}: " + string.Join(", ", g.GroupBy(s => s.Name).OrderBy(n => n.Key).Select(n => $"{n.Key} x{n.Count()}"))));
}
