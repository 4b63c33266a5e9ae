using System.Collections.Concurrent;

namespace TStitch.Orchestration;

/// <summary>
/// Zero-config store for `tstitch demo` and a single process: jobs do not survive a restart, and
/// finished jobs are kept until the process ends (no TTL).
/// </summary>
public sealed class InMemoryJobStore(TimeProvider time) : IJobStore
{
    private readonly Dictionary<string, JobRecord> _jobs = new();
    private readonly ConcurrentDictionary<string, bool> _cancelRequests = new();

    public Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
        {
            if (_jobs.TryGetValue(job.Id, out var existing)) return Task.FromResult((Snapshot(existing), false));
            _jobs[job.Id] = Snapshot(job);
            return Task.FromResult((job, true));
        }
    }

    public Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default)
    {
        lock (_jobs) return Task.FromResult(_jobs.TryGetValue(id, out var j) ? Snapshot(j) : null);
    }

    public Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        lock (_jobs)
        {
            if (_jobs.TryGetValue(job.Id, out var stored) && stored.Owner != job.Owner) return Task.FromResult(false);
            // A finished job's save ends its lease (IJobStore.SaveAsync).
            var lease = job.IsFinished ? DateTimeOffset.UnixEpoch : stored?.LeaseUntil ?? job.LeaseUntil;
            _jobs[job.Id] = Snapshot(job with { Owner = stored?.Owner ?? job.Owner, LeaseUntil = lease });
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
            if (job.Owner != owner && job.LeaseUntil > time.GetUtcNow()) return Task.FromResult(false);
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

    /// <summary>
    /// Tensors in and out are copies, as a store across the network gives: the running loop keeps mutating its latent
    /// buffer, and the store keeps the values as of this save.
    /// </summary>
    private static JobRecord Snapshot(JobRecord job) =>
        job with { Latents = (float[]?)job.Latents?.Clone(), PreviousX0 = (float[]?)job.PreviousX0?.Clone() };
}
