namespace TStitch.Orchestration;

/// <summary>
/// Durable job state. Redis in a cluster (<see cref="RedisJobStore"/>); memory for the quick start.
/// Ownership: an orchestrator writes a job only while it owns it; <see cref="TryClaimAsync"/> is the
/// only way to become its owner, and succeeds only when the previous owner's lease has expired.
/// </summary>
public interface IJobStore
{
    /// <summary>
    /// Stores <paramref name="job"/> unless a job with its id exists; returns the stored job and whether it
    /// was new. The new job is stored with <paramref name="job"/>'s owner and lease, so creating and
    /// claiming it is one atomic step (no other orchestrator can pick it up in between).
    /// </summary>
    Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default);
    /// <summary>The job; without <paramref name="withData"/> only its status, progress and owner (no tensors, no result).</summary>
    Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default);
    /// <summary>
    /// Writes status, progress, checkpoint and result (not the owner) if <paramref name="job"/>'s owner
    /// still owns the job; false if another orchestrator has taken it over. Finished jobs get the TTL and
    /// their lease ends in the same write (one round trip fewer at the end of every job).
    /// </summary>
    Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default);
    /// <summary>Ids of jobs that are queued or running (candidates for recovery).</summary>
    Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default);
    /// <summary>
    /// Makes <paramref name="owner"/> the unfinished job's owner until <paramref name="leaseUntil"/>,
    /// atomically, if it already is or the previous owner's lease has expired. False: another live
    /// orchestrator runs it, or it has finished.
    /// </summary>
    Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil, CancellationToken cancellationToken = default);
    /// <summary>Ends <paramref name="owner"/>'s lease now, so another orchestrator can resume the job at once.</summary>
    Task ReleaseAsync(string id, string owner, CancellationToken cancellationToken = default);
    /// <summary>Asks whichever orchestrator runs the job to cancel it (it checks while renewing its lease).</summary>
    Task RequestCancelAsync(string id, CancellationToken cancellationToken = default);
    Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default);
}
