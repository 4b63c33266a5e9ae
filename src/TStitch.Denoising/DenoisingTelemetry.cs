using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace TStitch.Denoising;

/// <summary>The denoiser's span source and meter ("TStitch.Denoising", registered in ServiceDefaults).</summary>
public static class DenoisingTelemetry
{
    public const string Name = "TStitch.Denoising";
    public static readonly ActivitySource ActivitySource = new(Name);
    public static readonly Meter Meter = new(Name);
}
