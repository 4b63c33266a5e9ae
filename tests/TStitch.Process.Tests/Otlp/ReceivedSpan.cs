using OpenTelemetry.Proto.Trace.V1;

namespace TStitch.Process.Tests.Otlp;

/// <summary>One span as an OTLP exporter sent it, with its resource's service.name.
/// Ids are lower-case hex; a root has an empty <see cref="ParentSpanId"/>.</summary>
public sealed record ReceivedSpan(
    string Service,
    string Scope,
    string TraceId,
    string SpanId,
    string ParentSpanId,
    string Name,
    Span.Types.SpanKind Kind,
    ulong StartUnixNano,
    ulong EndUnixNano,
    IReadOnlyDictionary<string, string> Attributes,
    Status.Types.StatusCode StatusCode,
    string StatusMessage)
{
    public bool IsRoot => ParentSpanId.Length == 0;
    public TimeSpan Duration => TimeSpan.FromTicks((long)(EndUnixNano - StartUnixNano) / 100);
    public string? Attribute(string key) => Attributes.GetValueOrDefault(key);

    public override string ToString() =>
        $"{Name} [{Service}, {Kind.ToString().Replace("SpanKind", "").ToLowerInvariant()}] " +
        $"span {SpanId} parent {(IsRoot ? "-" : ParentSpanId)}";
}
