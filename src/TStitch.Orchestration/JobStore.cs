using System.Collections.Concurrent;

namespace TStitch.Orchestration;

/// <summary>
/// Durable job state. Redis in a cluster (<see cref="RedisJobStore"/>); memory for the quick start.
/// Ownership: an orchestrator writes a job only while it owns it; <see cref="TryClaimAsync"/> is the
/// only way to become its owner, and succeeds only when the previous owner's lease has expired.
/// </summary>
public interface IJobStore
{
    /// <summary>Stores <paramref name="job"/> unless a job with its id exists; returns the stored job and whether it was new.</summary>
    Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default);
    /// <summary>The job; without <paramref name="withData"/> only its status, progress and owner (no tensors, no result).</summary>
    Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default);
    /// <summary>
    /// Writes status, progress, checkpoint and result (not owner or lease) if <paramref name="job"/>'s
    /// owner still owns the job; false if another orchestrator has taken it over. Finished jobs get the TTL.
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

/// <summary>
/// Zero-config store for `tstitch demo` and a single process: jobs do not survive a restart, and
/// finished jobs are kept until the process ends (no TTL).
/// </summary>
public sealed class InMemoryJobStore : IJobStore
{
    private readonly Dictionary<string, JobRecord> _jobs = new();
    private readonly ConcurrentDictionary<string, bool> _cancelRequests = new();

    public Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
        {
            if (_jobs.TryGetValue(job.Id, out var existing)) return Task.FromResult((existing, false));
            _jobs[job.Id] = Snapshot(job);
            return Task.FromResult((job, true));
        }
    }

    public Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default)
    {
        lock (_jobs) return Task.FromResult(_jobs.TryGetValue(id, out var j) ? j : null);
    }

    public Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
        {
            if (_jobs.TryGetValue(job.Id, out var stored) && stored.Owner != job.Owner) return Task.FromResult(false);
            _jobs[job.Id] = Snapshot(job with { Owner = stored?.Owner ?? job.Owner, LeaseUntil = stored?.LeaseUntil ?? job.LeaseUntil });
            return Task.FromResult(true);
        }
    }

    public Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default)
    {
        lock (_jobs) return Task.FromResult<IReadOnlyList<string>>(_jobs.Values.Where(j => !j.IsFinished).Select(j => j.Id).ToList());
    }

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

    public Task ReleaseAsync(string id, string owner, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
            if (_jobs.TryGetValue(id, out var job) && job.Owner == owner)
                _jobs[id] = job with { LeaseUntil = DateTimeOffset.UnixEpoch };
        return Task.CompletedTask;
    }

    public Task RequestCancelAsync(string id, CancellationToken cancellationToken = default)
    {
        _cancelRequests[id] = true;
        return Task.CompletedTask;
    }

    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default) =>
        Task.FromResult(_cancelRequests.ContainsKey(id));

    /// <summary>The running loop keeps mutating its latent buffer; the store keeps the values as of this save.</summary>
    private static JobRecord Snapshot(JobRecord job) =>
        job with { Latents = (float[]?)job.Latents?.Clone(), PreviousX0 = (float[]?)job.PreviousX0?.Clone() };
}
