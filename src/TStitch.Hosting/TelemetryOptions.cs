using System.ComponentModel.DataAnnotations;

namespace TStitch.Hosting;

/// <summary>Configuration section "Telemetry": what a service exposes for monitoring besides OTLP traces.</summary>
public sealed class TelemetryOptions
{
    public const string Section = "Telemetry";

    /// <summary>
    /// Port of a separate HTTP/1.1 endpoint serving Prometheus metrics at /metrics (0 = off). The gRPC
    /// endpoints given by Urls stay HTTP/2 only; metrics are collected whenever this is set, with or
    /// without an OTLP endpoint.
    /// </summary>
    [Range(0, 65535)]
    public int MetricsPort { get; set; }
}
