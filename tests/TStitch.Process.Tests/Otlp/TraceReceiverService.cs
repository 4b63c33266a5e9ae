using Grpc.Core;
using OpenTelemetry.Proto.Collector.Trace.V1;

namespace TStitch.Process.Tests.Otlp;

/// <summary>opentelemetry.proto.collector.trace.v1.TraceService/Export: stores the spans with their service.name.</summary>
public sealed class TraceReceiverService(SpanStore store) : TraceService.TraceServiceBase
{
    public override Task<ExportTraceServiceResponse> Export(ExportTraceServiceRequest request, ServerCallContext context)
    {
        var spans = new List<ReceivedSpan>();
        foreach (var resourceSpans in request.ResourceSpans)
        {
            var service = OtlpValues.Attributes(resourceSpans.Resource?.Attributes ?? []).GetValueOrDefault("service.name", "");
            foreach (var scopeSpans in resourceSpans.ScopeSpans)
            foreach (var span in scopeSpans.Spans)
                spans.Add(new ReceivedSpan(service, scopeSpans.Scope?.Name ?? "", OtlpValues.Hex(span.TraceId), OtlpValues.Hex(span.SpanId),
                    OtlpValues.Hex(span.ParentSpanId), span.Name, span.Kind, span.StartTimeUnixNano, span.EndTimeUnixNano,
                    OtlpValues.Attributes(span.Attributes), span.Status?.Code ?? default, span.Status?.Message ?? ""));
        }
        store.Add(spans);
        return Task.FromResult(new ExportTraceServiceResponse());
    }
}
