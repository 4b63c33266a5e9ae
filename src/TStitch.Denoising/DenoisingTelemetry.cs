using System.Collections.Concurrent;
using System.Diagnostics;
using System.Diagnostics.Metrics;
using TStitch.Sampling;

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

    internal static readonly Histogram<int> BatchRows = Meter.CreateHistogram<int>("tstitch.denoiser.batch_rows",
        description: "Rows per model run");
    internal static readonly Histogram<double> QueueWait = Meter.CreateHistogram<double>("tstitch.denoiser.queue_wait", "ms",
        "Time a call waited before its run");
    private static readonly Histogram<double> DenoiseDuration = Meter.CreateHistogram<double>("tstitch.denoiser.denoise.duration", "ms",
        "One Denoise call (queue wait + model run)");
    private static readonly Histogram<double> StageRunDuration = Meter.CreateHistogram<double>("tstitch.denoiser.stage_run.duration", "ms",
        "One RunStage call, whether it ran to its end, was handed back or failed");

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

    /// <summary>A span per call (its rows, queue wait and the rows of the run it shared), not left as the caller's current span.</summary>
    internal static Activity? StartCallSpan(string model, int rows)
    {
        var span = DenoisingTelemetry.ActivitySource.StartActivity("batcher.call");
        if (span is null) return null;
        Activity.Current = span.Parent;
        JobTag.Inherit(span); // IDenoiser calls do not name their job; the caller's span (stage.run, denoise) does
        span.SetTag("tstitch.model", model);
        span.SetTag("tstitch.rows", rows);
        return span;
    }

    internal static void EndWhenAnswered(Activity span, Task answer) =>
        answer.ContinueWith(static (t, state) =>
        {
            var a = (Activity)state!;
            if (t.IsFaulted) a.SetStatus(ActivityStatusCode.Error, t.Exception?.InnerException?.Message);
            a.Stop();
        }, span, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
}
