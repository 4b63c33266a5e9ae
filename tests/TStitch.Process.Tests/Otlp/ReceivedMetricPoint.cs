namespace TStitch.Process.Tests.Otlp;

public enum MetricKind { Gauge, Sum, Histogram }

/// <summary>
/// One data point of one metric as exported, flattened with its service and instrument. Number
/// points (gauge, sum) carry <see cref="Value"/>; histogram points <see cref="Count"/>,
/// <see cref="Sum"/> and buckets. Cumulative temporality (the .NET SDK default) means a point is the
/// total since the process started.
/// </summary>
public sealed record ReceivedMetricPoint(
    string Service,
    string Scope,
    string Name,
    string Unit,
    MetricKind Kind,
    bool IsDelta,
    IReadOnlyDictionary<string, string> Attributes,
    ulong TimeUnixNano,
    double Value,
    ulong Count,
    double? Sum,
    IReadOnlyList<ulong> BucketCounts,
    IReadOnlyList<double> ExplicitBounds);
