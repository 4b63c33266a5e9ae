using System.Collections.Concurrent;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// The jobs this orchestrator runs: creating and claiming them in the store, starting a
/// <see cref="JobRunner"/> for each (at most <see cref="OrchestratorOptions.MaxRunningJobs"/> at once; the
/// rest wait as `queued`), cancelling and stopping them. The in-memory table holds only handles for
/// cancellation and waiting; a job's state is the store's.
/// </summary>
public sealed partial class JobManager(IJobStore store, JobRunner runner, DenoiserPools pools,
    PromptEncoder prompts, OrchestratorInstance instance,
    IOptions<OrchestratorOptions> options, IHostApplicationLifetime lifetime, TimeProvider time, ILogger<JobManager> logger)
    : IHostedService, IDisposable
{
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();
    private readonly SemaphoreSlim _slots = new(options.Value.MaxRunningJobs, options.Value.MaxRunningJobs);
    private int _waiting;

    public string InstanceId => instance.Id;
    public IReadOnlyDictionary<string, RunningJob> RunningJobs => _running;
    public RunningJob? Running(string id) => _running.TryGetValue(id, out var job) ? job : null;
    /// <summary>Jobs started here that wait for a running slot (the queue the load controller watches).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// Creates the job, claimed by this orchestrator in the same write, or finds the one with the same id
    /// (which must be the same request). A job that ended for a resumable reason is queued again.
    /// Created: this call wrote the job (start it with <see cref="StartCreated"/>).
    /// </summary>
    public async Task<(JobRecord Job, bool Created)> SubmitAsync(string id, JobSpec spec, CancellationToken cancellationToken)
    {
        // A text job's prompts are checked against the encoder's token limit first; embeddings come when it runs.
        var trajectory = spec.ToTrajectory(spec.Prompts is null ? null : prompts.Check(spec));
        try
        {
            // Checks against the models themselves (class range, shapes) before a job exists.
            var models = await pools.ResolveAsync(trajectory.Schedule.ModelIds, cancellationToken);
            Trajectory.CheckModels(trajectory, models.ToDictionary(m => m.Key, m => m.Value.Info));
            JobModelCheck.Check(spec, models);
        }
        catch (ServiceFailureException ex) when (ex.Kind is FailureKind.PoolUnavailable or FailureKind.Overloaded)
        {
            // Still create the job: its run records the failure, so the store shows why it failed.
        }
        var now = time.GetUtcNow();
        var record = new JobRecord
        {
            Id = id, Spec = spec, Steps = spec.Steps, Schedule = spec.Schedule.ToString(),
            Owner = instance.Id, LeaseUntil = instance.LeaseEnd(), Created = now, Updated = now,
        };
        var (stored, created) = await store.CreateAsync(record, cancellationToken);
        if (!created && !stored.Spec.SameAs(spec))
            throw new InvalidRequestException("job_id", $"job_id '{id}' already names a different request; use a new id.");
        return (await RequeueIfResumableAsync(stored, cancellationToken), created);
    }

    /// <summary>
    /// The same request again resumes a job that stopped resumable: it is queued again, from its checkpoint
    /// (<paramref name="stored"/> must hold its tensors: the save writes the record as given).
    /// </summary>
    private async Task<JobRecord> RequeueIfResumableAsync(JobRecord stored, CancellationToken cancellationToken)
    {
        if (!stored.IsResumable) return stored;
        // Saving as the stored owner makes this a compare-and-set: of two resubmits racing, one requeues it.
        var requeued = stored.Finish(JobStatus.Queued, FailureKind.None, "", time.GetUtcNow());
        return await store.SaveAsync(requeued, cancellationToken) ? requeued : stored;
    }

    /// <summary>
    /// Starts a job <see cref="SubmitAsync"/> has just created, with the caller attached: the create was
    /// the claim (owner and lease in the same write) and <paramref name="created"/> is what it wrote, so
    /// there is nothing to claim, read back or check for a cancel request (nobody could have sent one
    /// for a job that did not exist). Null once this orchestrator is stopping.
    /// </summary>
    public RunningJob.Waiter? StartCreated(JobRecord created, RunningJob.ProgressHandler? progress) =>
        lifetime.ApplicationStopping.IsCancellationRequested ? null : Start(created, progress, attach: true).Waiter;

    /// <summary>
    /// Where a job stands for a caller: finished; running here (the caller is attached to it); or not
    /// running anywhere alive (claimed and started here from its checkpoint, the caller attached). With
    /// no waiter and an unfinished job, another live orchestrator runs it: the caller polls the store.
    /// </summary>
    public async Task<(JobRecord Job, RunningJob.Waiter? Waiter)> FollowAsync(JobRecord stored, RunningJob.ProgressHandler? progress,
        CancellationToken cancellationToken)
    {
        if (stored.IsFinished) return (stored, null);
        if (_running.TryGetValue(stored.Id, out var existing))
        {
            if (existing.Attach(progress) is { } attached) return (stored, attached);
            // Stopping (its last caller left, or a deadline passed): attached, this caller would be handed that stop.
            // Once it has ended, what it left is requeued, as for any resubmit, and followed from there.
            try { await existing.Completion.WaitAsync(cancellationToken); }
            catch (Exception) when (!cancellationToken.IsCancellationRequested) { } // how it ended is in the store
            // With its tensors: a save without them would drop the checkpoint.
            var ended = await store.GetAsync(stored.Id, true, cancellationToken) ?? stored;
            return await FollowAsync(await RequeueIfResumableAsync(ended, cancellationToken), progress, cancellationToken);
        }
        return (stored, (await StartIfClaimedAsync(stored.Id, progress, attach: true, cancellationToken))?.Waiter);
    }

    /// <summary>Claims the job and starts it here, unless another live orchestrator holds it or it has ended.</summary>
    public async Task<(RunningJob Running, RunningJob.Waiter? Waiter)?> StartIfClaimedAsync(string id,
        RunningJob.ProgressHandler? progress, bool attach,
        CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return null;
        if (!await store.TryClaimAsync(id, instance.Id, instance.LeaseEnd(), cancellationToken)) return null;
        // Start from what the store holds now (the claim may have raced a save by the previous owner).
        var job = await store.GetAsync(id, true, cancellationToken);
        if (job is null || job.IsFinished) return null;
        if (await store.IsCancelRequestedAsync(id, cancellationToken))
        {
            await store.SaveAsync(job.Cancelled(time.GetUtcNow()) with { Owner = instance.Id }, cancellationToken);
            return null;
        }
        return Start(job, progress, attach);
    }

    private (RunningJob Running, RunningJob.Waiter? Waiter) Start(JobRecord job, RunningJob.ProgressHandler? progress, bool attach)
    {
        var running = new RunningJob(job.Id);
        var waiter = attach ? running.Attach(progress)! : null; // not published yet: nothing can have stopped it
        // The task exists before the job is published, so a second caller attaching to it always finds
        // a real Completion; it only starts once this caller has won the id.
        var published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        running.Completion = Task.Run(async () =>
        {
            await published.Task;
            bool slot = false;
            try
            {
                // Shutdown is recorded as the reason before anything is cancelled, so the job stays
                // resumable even though the callers' calls are cancelled by the same shutdown.
                using var onShutdown = lifetime.ApplicationStopping.Register(() => running.Stop(StopReason.Shutdown));
                return await runner.RunAsync(job, running, async ct =>
                {
                    Interlocked.Increment(ref _waiting);
                    try { await _slots.WaitAsync(ct); }
                    finally { Interlocked.Decrement(ref _waiting); }
                    slot = true;
                });
            }
            finally
            {
                if (slot) _slots.Release();
                _running.TryRemove(new KeyValuePair<string, RunningJob>(job.Id, running));
                running.Cancellation.Dispose();
            }
        });
        while (!_running.TryAdd(job.Id, running))
        {
            if (_running.TryGetValue(job.Id, out var winner))
            {
                waiter?.Dispose();
                published.SetCanceled();
                return (winner, attach ? winner.Attach(progress) : null);
            }
        }
        // Nobody may be waiting (recovered jobs): observe failures so they are logged, not lost.
        _ = running.Completion.ContinueWith(t => LogEnded(logger, t.Exception, job.Id),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        published.SetResult();
        return (running, waiter);
    }

    /// <summary>
    /// Cancels a job (final): stops it here if it runs here; if no live orchestrator runs it, marks it
    /// cancelled; otherwise asks its owner, which stops it at its next lease renewal. A job that stopped
    /// resumable (its callers left, a deadline, a pool outage) is made final too, so a resubmit does not run it.
    /// </summary>
    public async Task<JobRecord> CancelAsync(string id, CancellationToken cancellationToken)
    {
        if (_running.TryGetValue(id, out var running))
        {
            running.Stop(StopReason.Cancelled);
            try
            {
                // Another stop may have come first (the last caller leaving): then the job ended resumable.
                var ended = await running.Completion;
                if (!ended.IsResumable) return ended;
            }
            catch (Exception) { } // whatever ended it, the store says how
        }
        var job = await store.GetAsync(id, false, cancellationToken)
                  ?? throw new ServiceFailureException(FailureKind.NotFound, $"No job with id '{id}'.");
        if (job.IsResumable)
        {
            // Nobody runs it; only a resubmit would. Saved as its stored owner, the compare-and-set a resubmit's
            // requeue also is; the cancel request covers a requeue that wins the race (its run stops at once).
            await store.RequestCancelAsync(id, cancellationToken);
            var cancelled = job.Cancelled(time.GetUtcNow());
            if (!await store.SaveAsync(cancelled, cancellationToken)) return job;
            StopStartedMeanwhile(id);
            return cancelled;
        }
        if (job.IsFinished) return job;
        // Asked for first, so a run that starts while this cancels (a takeover here, or a caller's follow) finds the
        // request when it claims the job, or at its next lease renewal.
        await store.RequestCancelAsync(id, cancellationToken);
        if (await store.TryClaimAsync(id, instance.Id, instance.LeaseEnd(), cancellationToken))
        {
            var full = await store.GetAsync(id, true, cancellationToken) ?? job;
            job = full.Cancelled(time.GetUtcNow()) with { Owner = instance.Id };
            await store.SaveAsync(job, cancellationToken);
            StopStartedMeanwhile(id);
        }
        return job;
    }

    /// <summary>
    /// A run here that claimed the job while it was being cancelled (a resubmit or a takeover: this orchestrator is
    /// the owner either way, so the cancel's write was not refused) is stopped now, before its next write could put
    /// the job back to running.
    /// </summary>
    private void StopStartedMeanwhile(string id)
    {
        if (_running.TryGetValue(id, out var started)) started.Stop(StopReason.Cancelled);
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Waits (within the host's shutdown timeout) for stopping jobs to write their checkpoints and release their leases.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var running in _running.Values) running.Stop(StopReason.Shutdown);
        try { await Task.WhenAll(_running.Values.Select(r => r.Completion)).WaitAsync(cancellationToken); }
        catch (Exception) { } // each job recorded its own outcome
    }

    public void Dispose() => _slots.Dispose();

    [LoggerMessage(Level = LogLevel.Debug, Message = "Job {Job} ended with an error")]
    private static partial void LogEnded(ILogger logger, Exception? exception, string job);
}
