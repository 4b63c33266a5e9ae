using System.Globalization;
using System.Text;
using OpenTelemetry.Proto.Trace.V1;

namespace TStitch.Process.Tests.Otlp;

/// <summary>
/// A trace as an indented text tree, one span per line: name, [service, kind], start offset from the
/// trace's first span, duration, key attributes (tstitch.* and the gRPC status). Spans whose parent
/// was not received are listed as extra top-level entries, marked. Paste-able into docs.
/// </summary>
public static class SpanTreeRenderer
{
    public static string Render(SpanTrace trace, Func<string, bool>? isKeyAttribute = null)
    {
        isKeyAttribute ??= key => key.StartsWith("tstitch.", StringComparison.Ordinal) || key == "rpc.grpc.status_code";
        var text = new StringBuilder();
        ulong origin = trace.Spans.Count == 0 ? 0 : trace.Spans.Min(s => s.StartUnixNano);
        text.AppendLine($"trace {trace.TraceId}: {trace.Count} spans from {string.Join(", ", trace.Services)}");
        foreach (var root in trace.Roots) Write(root, "", "", top: true);
        foreach (var orphan in trace.Orphans) Write(orphan, "", "", top: true, note: $"  !! parent {orphan.ParentSpanId} not received");
        return text.ToString().TrimEnd();

        void Write(ReceivedSpan span, string lead, string childLead, bool top, string note = "")
        {
            var kind = span.Kind switch
            {
                Span.Types.SpanKind.Client => ", client",
                Span.Types.SpanKind.Server => ", server",
                Span.Types.SpanKind.Producer => ", producer",
                Span.Types.SpanKind.Consumer => ", consumer",
                _ => "",
            };
            var attributes = span.Attributes.Where(a => isKeyAttribute(a.Key) && (top || a.Key != "tstitch.job"))
                .Select(a => $"{a.Key}={a.Value}");
            var offset = (span.StartUnixNano - origin) / 1e6;
            text.Append(lead).Append(span.Name).Append($" [{span.Service}{kind}]")
                .Append(string.Create(CultureInfo.InvariantCulture, $" +{offset:F1} ms {span.Duration.TotalMilliseconds:F1} ms"));
            foreach (var a in attributes) text.Append(' ').Append(a);
            if (span.StatusCode == Status.Types.StatusCode.Error) text.Append($" ERROR {span.StatusMessage}");
            text.AppendLine(note);
            var children = trace.Children(span);
            for (int i = 0; i < children.Count; i++)
            {
                bool last = i == children.Count - 1;
                Write(children[i], childLead + (last ? "└─ " : "├─ "), childLead + (last ? "   " : "│  "), top: false);
            }
        }
    }
}
