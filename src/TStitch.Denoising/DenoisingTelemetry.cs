using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace TStitch.Denoising;

/// <summary>
/// The denoiser's span source and its instruments, all on "TStitch.Denoising" (registered in
/// ServiceDefaults), so metric names and tags live in one place. Every instrument is tagged with the
/// replica's model (tstitch.model); durations are in ms.
/// </summary>
public static class DenoisingTelemetry
{
    public const string Name = "TStitch.Denoising";
    public static readonly ActivitySource ActivitySource = new(Name);
    public static readonly Meter Meter = new(Name);

    internal static readonly Histogram<int> BatchRows = Meter.CreateHistogram<int>("tstitch.denoiser.batch_rows", description: "Rows per model run");
    internal static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("tstitch.denoiser.queue_wait", "ms", "Time a call waited before its run");
    private static readonly Histogram<double> DenoiseDuration = Meter.CreateHistogram<double>("tstitch.denoiser.denoise.duration", "ms", "One Denoise call (queue wait + model run)");
    private static readonly Histogram<double> StageRunDuration = Meter.CreateHistogram<double>("tstitch.denoiser.stage_run.duration", "ms", "One RunStage call, whether it ran to its end, was handed back or failed");

    /// <summary>Live batchers, read by the queue-depth gauge (one process may hold several, e.g. the loopback cluster).</summary>
    private static readonly ConcurrentDictionary<DynamicBatcher, byte> Batchers = new();

    static DenoisingTelemetry() =>
        Meter.CreateObservableGauge("tstitch.denoiser.queue_depth",
            () => Batchers.Keys.Select(b => new Measurement<int>(b.Waiting, ModelTag(b.Info.Name))),
            "{call}", "Calls waiting in the batcher's queue for a model run");

    public static KeyValuePair<string, object?> ModelTag(string model) => new("tstitch.model", model);

    internal static void Track(DynamicBatcher batcher) => Batchers[batcher] = 0;
    internal static void Untrack(DynamicBatcher batcher) => Batchers.TryRemove(batcher, out _);

    public static void Denoised(string model, TimeSpan elapsed) => DenoiseDuration.Record(elapsed.TotalMilliseconds, ModelTag(model));
    public static void StageRan(string model, TimeSpan elapsed) => StageRunDuration.Record(elapsed.TotalMilliseconds, ModelTag(model));
}
