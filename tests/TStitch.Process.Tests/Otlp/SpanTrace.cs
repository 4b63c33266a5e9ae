namespace TStitch.Process.Tests.Otlp;

/// <summary>The received spans of one trace id, with parent/child navigation.</summary>
public sealed class SpanTrace
{
    private readonly Dictionary<string, ReceivedSpan> _byId;
    private readonly ILookup<string, ReceivedSpan> _children;

    public SpanTrace(string traceId, IEnumerable<ReceivedSpan> spans)
    {
        TraceId = traceId;
        // A span exported twice (an exporter retry) counts once.
        _byId = spans.Where(s => s.TraceId == traceId).GroupBy(s => s.SpanId).ToDictionary(g => g.Key, g => g.First());
        Spans = _byId.Values.OrderBy(s => s.StartUnixNano).ToList();
        _children = Spans.Where(s => !s.IsRoot).ToLookup(s => s.ParentSpanId);
    }

    public string TraceId { get; }
    public IReadOnlyList<ReceivedSpan> Spans { get; }
    public int Count => Spans.Count;

    /// <summary>Spans without a parent id.</summary>
    public IReadOnlyList<ReceivedSpan> Roots => Spans.Where(s => s.IsRoot).ToList();
    /// <summary>Spans whose parent id names a span this trace does not have (not received, or never recorded).</summary>
    public IReadOnlyList<ReceivedSpan> Orphans => Spans.Where(s => !s.IsRoot && !_byId.ContainsKey(s.ParentSpanId)).ToList();
    public IReadOnlyCollection<string> Services => Spans.Select(s => s.Service).Distinct().Order().ToList();

    public IReadOnlyList<ReceivedSpan> Named(string name) => Spans.Where(s => s.Name == name).ToList();
    public ReceivedSpan? Span(string spanId) => _byId.GetValueOrDefault(spanId);
    public ReceivedSpan? Parent(ReceivedSpan span) => span.IsRoot ? null : _byId.GetValueOrDefault(span.ParentSpanId);
    public IReadOnlyList<ReceivedSpan> Children(ReceivedSpan span) => _children[span.SpanId].OrderBy(s => s.StartUnixNano).ToList();

    /// <summary>The span's ancestors and itself, outermost first, as far up as received parents go.</summary>
    public IReadOnlyList<ReceivedSpan> PathFromTop(ReceivedSpan span)
    {
        var path = new List<ReceivedSpan> { span };
        for (var parent = Parent(span); parent is not null && path.Count <= Spans.Count; parent = Parent(parent)) path.Add(parent);
        path.Reverse();
        return path;
    }

    public bool Descends(ReceivedSpan span, ReceivedSpan ancestor) => PathFromTop(span)[0].SpanId == ancestor.SpanId;
}
