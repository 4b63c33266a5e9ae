using System.Collections.Concurrent;
using TStitch.Protos;

namespace TStitch.Orchestration;

/// <summary>
/// What the job store keeps of a job: the request, where it is (status, steps done, the latent
/// checkpoint and multistep history after that step), what it used (calls per pool) and its result.
/// Everything needed to resume lives here, never only in an orchestrator's memory.
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
}

/// <summary>Durable job state. Redis in a cluster (<see cref="RedisJobStore"/>); memory for the quick start.</summary>
public interface IJobStore
{
    /// <summary>Stores <paramref name="job"/> unless a job with its id exists; returns the stored job and whether it was new.</summary>
    Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default);
    Task<JobRecord?> GetAsync(string id, CancellationToken cancellationToken = default);
    /// <summary>Writes status, progress, checkpoint and result fields; finished jobs get the store's TTL.</summary>
    Task SaveAsync(JobRecord job, CancellationToken cancellationToken = default);
    /// <summary>Ids of jobs that are queued or running (candidates for recovery).</summary>
    Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default);
    /// <summary>
    /// Makes <paramref name="owner"/> the job's runner until <paramref name="leaseUntil"/>, atomically,
    /// if it already is or the previous owner's lease has expired. False: another live orchestrator runs it.
    /// </summary>
    Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default);
    /// <summary>Asks whichever orchestrator runs the job to cancel it (it checks while renewing its lease).</summary>
    Task RequestCancelAsync(string id, CancellationToken cancellationToken = default);
    Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default);
}

/// <summary>Zero-config store for `tstitch demo` and a single process; jobs do not survive a restart.</summary>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly ConcurrentDictionary<string, JobRecord> _jobs = new();
    private readonly ConcurrentDictionary<string, bool> _cancelRequests = new();

    public Task RequestCancelAsync(string id, CancellationToken cancellationToken = default)
    {
        _cancelRequests[id] = true;
        return Task.CompletedTask;
    }

    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(_cancelRequests.ContainsKey(id));

    public Task<(JobRecord, bool)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        var stored = _jobs.GetOrAdd(job.Id, job);
        return Task.FromResult((stored, ReferenceEquals(stored, job)));
    }

    public Task<JobRecord?> GetAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(_jobs.TryGetValue(id, out var j) ? j : null);

    public Task SaveAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        _jobs[job.Id] = job;
        return Task.CompletedTask;
    }

    public Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default) =>
        Task.FromResult<IReadOnlyList<string>>(_jobs.Values.Where(j => !j.IsFinished).Select(j => j.Id).ToList());

    public Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
        {
            if (!_jobs.TryGetValue(id, out var job) || job.IsFinished) return Task.FromResult(false);
            if (job.Owner != owner && job.LeaseUntil > DateTimeOffset.UtcNow) return Task.FromResult(false);
            _jobs[id] = job with { Owner = owner, LeaseUntil = leaseUntil };
            return Task.FromResult(true);
        }
    }
}
