using Grpc.Core;
using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>
/// What the job store keeps of a job: the request, where it is (status, steps done, the latent
/// checkpoint and multistep history after that step), what it used (calls per pool), who runs it
/// (owner and lease) and its result. Everything needed to resume lives here, never only in an
/// orchestrator's memory.
/// </summary>
public sealed record JobRecord
{
    public required string Id { get; init; }
    public required GenerateRequest Request { get; init; }
    public JobStatus Status { get; init; } = JobStatus.Queued;
    public int Step { get; init; }
    public int Steps { get; init; }
    public float[]? Latents { get; init; }
    public float[]? PreviousX0 { get; init; }
    public IReadOnlyDictionary<string, int> CallsPerPool { get; init; } = new Dictionary<string, int>();
    public string Error { get; init; } = "";
    /// <summary>The gRPC status a failed or cancelled job answers with.</summary>
    public StatusCode ErrorCode { get; init; } = StatusCode.OK;
    public string Schedule { get; init; } = "";
    public int ResumedFromStep { get; init; }
    /// <summary>The orchestrator running the job, and until when its claim holds without renewal.</summary>
    public string Owner { get; init; } = "";
    public DateTimeOffset LeaseUntil { get; init; } = DateTimeOffset.UnixEpoch;
    public DateTimeOffset Created { get; init; } = DateTimeOffset.UtcNow;
    public DateTimeOffset Updated { get; init; } = DateTimeOffset.UtcNow;
    public byte[]? Png { get; init; }
    public float[]? Samples { get; init; }

    public bool IsFinished => IsFinal(Status);
    public static bool IsFinal(JobStatus status) => status is JobStatus.Succeeded or JobStatus.Failed or JobStatus.Cancelled;

    /// <summary>A failure worth running again from the checkpoint when the same request comes back.</summary>
    public bool FailedTransiently => Status == JobStatus.Failed && ErrorCode == StatusCode.Unavailable;

    public JobRecord Finish(JobStatus status, StatusCode code, string error) =>
        this with { Status = status, ErrorCode = code, Error = error, Updated = DateTimeOffset.UtcNow };
}
