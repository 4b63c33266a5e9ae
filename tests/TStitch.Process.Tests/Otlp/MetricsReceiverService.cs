using Grpc.Core;
using OpenTelemetry.Proto.Collector.Metrics.V1;
using OpenTelemetry.Proto.Metrics.V1;

namespace TStitch.Process.Tests.Otlp;

/// <summary>opentelemetry.proto.collector.metrics.v1.MetricsService/Export: stores gauge, sum and histogram points.</summary>
public sealed class MetricsReceiverService(MetricStore store) : MetricsService.MetricsServiceBase
{
    public override Task<ExportMetricsServiceResponse> Export(ExportMetricsServiceRequest request, ServerCallContext context)
    {
        var points = new List<ReceivedMetricPoint>();
        foreach (var resourceMetrics in request.ResourceMetrics)
        {
            var service = OtlpValues.Attributes(resourceMetrics.Resource?.Attributes ?? []).GetValueOrDefault("service.name", "");
            foreach (var scopeMetrics in resourceMetrics.ScopeMetrics)
            foreach (var metric in scopeMetrics.Metrics)
            {
                var scope = scopeMetrics.Scope?.Name ?? "";
                switch (metric.DataCase)
                {
                    case Metric.DataOneofCase.Gauge:
                        points.AddRange(metric.Gauge.DataPoints.Select(p => Number(service, scope, metric, MetricKind.Gauge, false, p)));
                        break;
                    case Metric.DataOneofCase.Sum:
                        bool delta = metric.Sum.AggregationTemporality == AggregationTemporality.Delta;
                        points.AddRange(metric.Sum.DataPoints.Select(p => Number(service, scope, metric, MetricKind.Sum, delta, p)));
                        break;
                    case Metric.DataOneofCase.Histogram:
                        bool hdelta = metric.Histogram.AggregationTemporality == AggregationTemporality.Delta;
                        points.AddRange(metric.Histogram.DataPoints.Select(p => new ReceivedMetricPoint(service, scope, metric.Name,
                            metric.Unit, MetricKind.Histogram, hdelta, OtlpValues.Attributes(p.Attributes), p.TimeUnixNano, double.NaN,
                            p.Count, p.HasSum ? p.Sum : null, p.BucketCounts.ToList(), p.ExplicitBounds.ToList())));
                        break;
                }
            }
        }
        store.Add(points);
        return Task.FromResult(new ExportMetricsServiceResponse());
    }

    private static ReceivedMetricPoint Number(string service, string scope, Metric metric, MetricKind kind,
        bool delta, NumberDataPoint p) =>
        new(service, scope, metric.Name, metric.Unit, kind, delta, OtlpValues.Attributes(p.Attributes), p.TimeUnixNano,
            p.ValueCase == NumberDataPoint.ValueOneofCase.AsInt ? p.AsInt : p.AsDouble, 0, null, [], []);
}
