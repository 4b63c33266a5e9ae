using System.Diagnostics.Metrics;
using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// The orchestrator's instruments, all on the "TStitch.Orchestrator" meter (registered in
/// ServiceDefaults.Meters), so the metric names and tags live in one place. Durations are in ms.
/// </summary>
public static class OrchestratorMetrics
{
    public const string Name = "TStitch.Orchestrator";
    public static readonly Meter Meter = new(Name);

    private static readonly Counter<long> Started = Meter.CreateCounter<long>("tstitch.orchestrator.jobs.started", "{job}",
        "Job runs started (a resumed job counts again)");
    private static readonly Counter<long> Succeeded = Meter.CreateCounter<long>("tstitch.orchestrator.jobs.succeeded", "{job}",
        "Jobs that finished with their result");
    private static readonly Counter<long> Failed = Meter.CreateCounter<long>("tstitch.orchestrator.jobs.failed", "{job}",
        "Jobs that ended failed, tagged with tstitch.failure_kind");
    private static readonly Counter<long> Cancelled = Meter.CreateCounter<long>("tstitch.orchestrator.jobs.cancelled", "{job}",
        "Jobs cancelled by a client or left by every caller");
    private static readonly Histogram<double> JobDuration = Meter.CreateHistogram<double>("tstitch.orchestrator.job.duration", "ms",
        "Time from a job run's start to its end, tagged with tstitch.status");
    private static readonly Counter<long> Steps = Meter.CreateCounter<long>("tstitch.orchestrator.steps", "{step}",
        "Trajectory steps completed, per pool (a step re-run after a replica failure counts once)");
    private static readonly Histogram<double> StageDuration = Meter.CreateHistogram<double>("tstitch.orchestrator.stage.duration", "ms",
        "Time to run one stage on its pool (retries included), tagged with pool and run mode");
    private static readonly Histogram<double> DenoiseDuration = Meter.CreateHistogram<double>("tstitch.orchestrator.denoise.duration",
        "ms", "One Denoise call as the orchestrator sees it (step run mode; retries included)");
    private static readonly Histogram<double> CheckpointDuration = Meter.CreateHistogram<double>("tstitch.orchestrator.checkpoint.duration",
        "ms", "One write of a job to the job store");

    public static void JobStarted() => Started.Add(1);

    public static void JobEnded(JobStatus status, FailureKind kind, TimeSpan elapsed)
    {
        switch (status)
        {
            case JobStatus.Succeeded: Succeeded.Add(1); break;
            case JobStatus.Cancelled: Cancelled.Add(1, new KeyValuePair<string, object?>("tstitch.failure_kind", kind.ToString())); break;
            default: Failed.Add(1, new KeyValuePair<string, object?>("tstitch.failure_kind", kind.ToString())); break;
        }
        JobDuration.Record(elapsed.TotalMilliseconds, new KeyValuePair<string, object?>("tstitch.status", status.ToString()));
    }

    public static void StepDone(string pool) => Steps.Add(1, new KeyValuePair<string, object?>("tstitch.pool", pool));

    public static void StageRan(string pool, RunMode mode, TimeSpan elapsed) =>
        StageDuration.Record(elapsed.TotalMilliseconds, new("tstitch.pool", pool), new("tstitch.mode", mode.ToString().ToLowerInvariant()));

    public static void Denoised(string pool, TimeSpan elapsed) => DenoiseDuration.Record(elapsed.TotalMilliseconds,
        new KeyValuePair<string, object?>("tstitch.pool", pool));

    public static void CheckpointWritten(TimeSpan elapsed) => CheckpointDuration.Record(elapsed.TotalMilliseconds);
}
