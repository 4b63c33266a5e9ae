using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// What the job store keeps of a job: the accepted spec, where it is (status, steps done, the latent
/// checkpoint and multistep history after that step), what it used (model calls per pool), who runs
/// it (owner and lease) and its result. Everything needed to resume lives here, never only in an
/// orchestrator's memory.
/// </summary>
public sealed record JobRecord
{
    public required string Id { get; init; }
    public required JobSpec Spec { get; init; }
    public JobStatus Status { get; init; } = JobStatus.Queued;
    /// <summary>Steps completed (as last written; a job running elsewhere may be ahead of it).</summary>
    public int Step { get; init; }
    /// <summary>The step <see cref="Latents"/> and <see cref="PreviousX0"/> belong to: where a resumed job continues.</summary>
    public int CheckpointStep { get; init; }
    public int Steps { get; init; }
    public float[]? Latents { get; init; }
    public float[]? PreviousX0 { get; init; }
    /// <summary>[C, H, W] of one sample, known once the pools have been resolved (for the raw result's shape).</summary>
    public int[]? SampleShape { get; init; }
    public IReadOnlyDictionary<string, int> CallsPerPool { get; init; } = new Dictionary<string, int>();
    public string Error { get; init; } = "";
    /// <summary>Why a failed or cancelled job ended (the status it answers with comes from <see cref="ErrorTable"/>).</summary>
    public FailureKind Failure { get; init; }
    public string Schedule { get; init; } = "";
    public int ResumedFromStep { get; init; }
    /// <summary>The orchestrator running the job, and until when its claim holds without renewal.</summary>
    public string Owner { get; init; } = "";
    public DateTimeOffset LeaseUntil { get; init; } = DateTimeOffset.UnixEpoch;
    public DateTimeOffset Created { get; init; }
    public DateTimeOffset Updated { get; init; }
    public byte[]? Png { get; init; }
    public float[]? Samples { get; init; }

    public bool IsFinished => IsFinal(Status);
    public static bool IsFinal(JobStatus status) => status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;

    /// <summary>
    /// Ended for a reason outside the job itself (a pool or the store down, overload, the caller gone or out
    /// of time): the same request again resumes it from its checkpoint. Only CancelJob and real errors are final.
    /// </summary>
    public bool IsResumable => Status is JobStatus.Failed or JobStatus.Cancelled
        && Failure is FailureKind.PoolUnavailable or FailureKind.Overloaded or FailureKind.StoreUnavailable or FailureKind.ShuttingDown
            or FailureKind.DeadlineExceeded or FailureKind.CallerLeft;

    public JobRecord Finish(JobStatus status, FailureKind failure, string error, DateTimeOffset now) =>
        this with { Status = status, Failure = failure, Error = error, Updated = now };

    /// <summary>The error of a job ended by CancelJob (final: the same request again answers CANCELLED).</summary>
    public const string CancelledByClient = "cancelled by the client";

    /// <summary>Ended by CancelJob.</summary>
    public JobRecord Cancelled(DateTimeOffset now) => Finish(JobStatus.Cancelled, FailureKind.Cancelled, CancelledByClient, now);
}
