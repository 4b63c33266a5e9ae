using OpenTelemetry.Proto.Trace.V1;
using TStitch.Process.Tests.Otlp;

namespace TStitch.Process.Tests.Tracing;

/// <summary>What one hop of an expected span chain looks like (name or kind, and which services may emit it).</summary>
public sealed class SpanMatch(string description, Func<ReceivedSpan, bool> predicate)
{
    public bool Matches(ReceivedSpan span) => predicate(span);
    public override string ToString() => description;

    /// <summary>A span with exactly this name, from one of <paramref name="services"/> (any service if none).</summary>
    public static SpanMatch Named(string name, params string[] services) =>
        new($"'{name}'{In(services)}", s => s.Name == name && (services.Length == 0 || services.Contains(s.Service)));

    /// <summary>A span of this kind whose name contains <paramref name="nameContains"/>
    /// (instrumentation names differ by version: "POST /x/Y" vs "x/Y").</summary>
    public static SpanMatch Kind(Span.Types.SpanKind kind, string nameContains, params string[] services) =>
        new($"{kind.ToString().ToLowerInvariant()} span containing '{nameContains}'{In(services)}",
            s => s.Kind == kind && s.Name.Contains(nameContains, StringComparison.Ordinal)
                && (services.Length == 0 || services.Contains(s.Service)));

    public static implicit operator SpanMatch(string name) => Named(name);

    private static string In(string[] services) => services.Length == 0 ? "" : $" in {string.Join(" or ", services)}";
}
