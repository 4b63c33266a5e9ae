using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// Writes a running job to the store as its owner, and decides what a failed write means: another
/// orchestrator owns the job now (stop writing), the store lost the job (a Redis restarted empty: write
/// it back), or the store is unreachable (keep running from memory: checkpoints are skipped and the
/// final write retried with backoff, for up to <see cref="OrchestratorOptions.StoreOutageTolerance"/>).
/// </summary>
public sealed partial class JobCheckpoints(IJobStore store, OrchestratorInstance instance, IOptions<OrchestratorOptions> options,
    TimeProvider time, ILogger<JobCheckpoints> logger)
{
    private readonly OrchestratorOptions _options = options.Value;

    /// <summary>
    /// Saves <paramref name="job"/>; <paramref name="final"/> writes must land (they are retried), checkpoints may be skipped during an
    /// outage.
    /// </summary>
    public async Task SaveAsync(JobRecord job, RunningJob running, bool final)
    {
        job = job with { Owner = instance.Id };
        DateTimeOffset? failingSince = null;
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                long started = System.Diagnostics.Stopwatch.GetTimestamp();
                bool saved = await store.SaveAsync(job);
                OrchestratorMetrics.CheckpointWritten(System.Diagnostics.Stopwatch.GetElapsedTime(started));
                if (saved)
                {
                    StoreReached(running);
                    return;
                }
                if (await store.GetAsync(job.Id, withData: false) is null)
                {
                    // The store has no record of the job (restarted without persistence): this owner still
                    // has the job in memory, so it writes it back rather than letting it vanish.
                    var (_, created) = await store.CreateAsync(job with { LeaseUntil = instance.LeaseEnd() });
                    if (created)
                    {
                        LogWrittenBack(logger, job.Id, job.Step);
                        return;
                    }
                    continue;
                }
                running.Stop(StopReason.LeaseLost);
                throw new OperationCanceledException($"Job {job.Id} was taken over by another orchestrator.");
            }
            catch (ServiceFailureException ex) when (ex.Kind == FailureKind.StoreUnavailable)
            {
                var now = time.GetUtcNow();
                // The job's outage (a renewed lease ends it: StoreReached) and this write's own: a final write that keeps
                // failing while renewals get through (its data evicted, say) still ends within the tolerance.
                var since = running.StoreOutageSince ??= now;
                failingSince ??= now;
                if (now - (since < failingSince ? since : failingSince.Value) >= _options.StoreOutageTolerance) throw;
                LogStoreDown(logger, job.Id, job.Step, final);
                if (!final) return;
                await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(2000, 100 * Math.Pow(2, attempt - 1))), time);
            }
        }
    }

    /// <summary>
    /// The store answered for this job (a save, or its lease renewed): an outage it was counting is over, and the
    /// tolerance starts afresh at the next one.
    /// </summary>
    public void StoreReached(RunningJob running)
    {
        if (running.StoreOutageSince is null) return;
        LogStoreBack(logger, running.Id);
        running.StoreOutageSince = null;
    }

    /// <summary>
    /// Starts saving <paramref name="job"/> once the writes started before it have landed, without waiting
    /// for it: the pools go on stepping while Redis writes (a checkpoint of a 64-image batch is ~0.8 MB,
    /// and each write is a round trip to Redis). Writes land in order. A write that failed is thrown
    /// here, at the next checkpoint, or by <see cref="SavedAsync"/>; no write is started after it.
    /// </summary>
    public ValueTask SaveBehind(JobRecord job, RunningJob running, bool final)
    {
        if (running.PendingSave.IsFaulted || running.PendingSave.IsCanceled) return new ValueTask(running.PendingSave);
        running.PendingSave = After(running.PendingSave);
        return ValueTask.CompletedTask;

        async Task After(Task previous)
        {
            // Always off the caller's path: even the write's synchronous part (the record and a latent batch
            // serialised for Redis, ~0.5-1 ms at batch 64) would delay the next stage's call.
            await previous.ConfigureAwait(ConfigureAwaitOptions.ForceYielding);
            await SaveAsync(job, running, final);
        }
    }

    /// <summary>Waits for the writes started by <see cref="SaveBehind"/>; throws the first that failed.</summary>
    public Task SavedAsync(RunningJob running) => running.PendingSave;

    /// <summary>
    /// The final save of a finished job, after any write still in flight (whose failure no longer matters:
    /// this write carries everything). A finished job's save also ends its lease (a finished job has no runner).
    /// </summary>
    public async Task<JobRecord> EndAsync(RunningJob running, JobRecord job)
    {
        await Settled(running.PendingSave);
        await SaveAsync(job, running, final: true);
        return job;
    }

    /// <summary>Ends this orchestrator's lease on the job now (after its writes in flight), so another one may resume it at once.</summary>
    public async Task ReleaseAsync(RunningJob running)
    {
        await Settled(running.PendingSave);
        try { await store.ReleaseAsync(running.Id, instance.Id); }
        catch (ServiceFailureException ex) when (ex.Kind == FailureKind.StoreUnavailable)
        {
            LogReleaseFailed(logger, running.Id); // the lease then expires on its own
        }
    }

    private static async Task Settled(Task write)
    {
        try { await write; }
        catch (Exception) { } // reported where the run awaited it; the write that follows decides
    }

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Job {Job}: the job store is unreachable at step {Step} (final write: {Final}); running on from memory")]
    private static partial void LogStoreDown(ILogger logger, string job, int step, bool final);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job}: the job store is reachable again")]
    private static partial void LogStoreBack(ILogger logger, string job);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Job {Job} was missing from the job store (restarted empty?); written back at step {Step}")]
    private static partial void LogWrittenBack(ILogger logger, string job, int step);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "Job {Job}: could not release its lease (job store unreachable); it expires on its own")]
    private static partial void LogReleaseFailed(ILogger logger, string job);
}
