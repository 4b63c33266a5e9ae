using TStitch.Hosting.Errors;
using TStitch.Orchestration;

namespace TStitch.Orchestration.Tests;

/// <summary>A store that can be switched off: every call then fails as an unreachable Redis does.</summary>
internal sealed class FlakyStore(IJobStore inner) : IJobStore
{
    public bool Down { get; set; }
    /// <summary>Saves wait for this before they write (a slow store).</summary>
    public Task Gate { get; set; } = Task.CompletedTask;
    public List<int> SavedSteps { get; } = [];

    private T Up<T>(Func<T> call) =>
        Down ? throw new ServiceFailureException(FailureKind.StoreUnavailable, "The job store (Redis) is unreachable.") : call();

    public Task<(JobRecord Job, bool Created)> CreateAsync(JobRecord job, CancellationToken cancellationToken = default) =>
        Up(() => inner.CreateAsync(job, cancellationToken));
    public Task<JobRecord?> GetAsync(string id, bool withData = true, CancellationToken cancellationToken = default) =>
        Up(() => inner.GetAsync(id, withData, cancellationToken));
    public async Task<bool> SaveAsync(JobRecord job, CancellationToken cancellationToken = default)
    {
        await Gate;
        bool saved = await Up(() => inner.SaveAsync(job, cancellationToken));
        if (saved) lock (SavedSteps) SavedSteps.Add(job.Step);
        return saved;
    }
    public Task<IReadOnlyList<string>> UnfinishedAsync(CancellationToken cancellationToken = default) =>
        Up(() => inner.UnfinishedAsync(cancellationToken));
    public Task<bool> TryClaimAsync(string id, string owner, DateTimeOffset leaseUntil,
        CancellationToken cancellationToken = default) =>
        Up(() => inner.TryClaimAsync(id, owner, leaseUntil, cancellationToken));
    public Task ReleaseAsync(string id, string owner, CancellationToken cancellationToken = default) =>
        Up(() => inner.ReleaseAsync(id, owner, cancellationToken));
    public Task RequestCancelAsync(string id, CancellationToken cancellationToken = default) =>
        Up(() => inner.RequestCancelAsync(id, cancellationToken));
    public Task<bool> IsCancelRequestedAsync(string id, CancellationToken cancellationToken = default) =>
        Up(() => inner.IsCancelRequestedAsync(id, cancellationToken));
}
