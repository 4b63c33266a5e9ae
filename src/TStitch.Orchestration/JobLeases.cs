using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// Keeps jobs alive across orchestrators: on start it resumes the jobs a dead orchestrator left
/// running (from their last checkpoints), then every third of a lease renews this orchestrator's
/// claims (stopping any it has lost), honours cancel requests sent to other orchestrators, and takes
/// over unfinished jobs whose owner stopped renewing.
/// </summary>
public sealed partial class JobLeases(JobManager jobs, IJobStore store, JobCheckpoints checkpoints, OrchestratorInstance instance,
    IOptions<OrchestratorOptions> options,
    IHostApplicationLifetime lifetime, TimeProvider time, ILogger<JobLeases> logger) : BackgroundService
{
    /// <summary>When this orchestrator last found the store unreachable.</summary>
    private DateTimeOffset? _storeFailed;

    protected override async Task ExecuteAsync(CancellationToken stoppingToken)
    {
        using var timer = new PeriodicTimer(options.Value.JobLease / 3, time);
        do
        {
            try
            {
                int resumed = await MaintainAsync(stoppingToken);
                if (resumed > 0) LogResumed(logger, resumed);
            }
            catch (ServiceFailureException ex) when (ex.Kind == FailureKind.StoreUnavailable)
            {
                LogStoreDown(logger, ex.Message);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                LogFailed(logger, ex);
            }
        }
        while (await NextTickAsync(timer, stoppingToken));
    }

    private static async Task<bool> NextTickAsync(PeriodicTimer timer, CancellationToken stoppingToken)
    {
        try { return await timer.WaitForNextTickAsync(stoppingToken); }
        catch (OperationCanceledException) when (stoppingToken.IsCancellationRequested) { return false; }
    }

    /// <summary>One round of lease upkeep and takeover; returns how many jobs it resumed here.</summary>
    public async Task<int> MaintainAsync(CancellationToken cancellationToken)
    {
        try { return await MaintainOnceAsync(cancellationToken); }
        catch (ServiceFailureException ex) when (ex.Kind == FailureKind.StoreUnavailable)
        {
            _storeFailed = time.GetUtcNow();
            throw;
        }
    }

    /// <summary>
    /// An outage longer than a lease lets every lease run out, those of jobs their owners still run (they go on for
    /// <see cref="OrchestratorOptions.StoreOutageTolerance"/>) included. The owners renew within a third of a lease
    /// once the store is back, so takeovers wait a whole lease after the last failure seen here, instead of taking
    /// running jobs from their owners (which would lose what they ran during the outage).
    /// </summary>
    private bool TakeoversHeld => _storeFailed is { } failed && time.GetUtcNow() - failed < options.Value.JobLease;

    private async Task<int> MaintainOnceAsync(CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return 0;
        foreach (var (id, running) in jobs.RunningJobs)
        {
            if (await store.IsCancelRequestedAsync(id, cancellationToken)) running.Stop(StopReason.Cancelled);
            else if (await store.TryClaimAsync(id, instance.Id, instance.LeaseEnd(), cancellationToken)) checkpoints.StoreReached(running);
            else if ((await store.GetAsync(id, false, cancellationToken))?.Owner is { } owner && owner != instance.Id)
                running.Stop(StopReason.LeaseLost);
        }
        if (TakeoversHeld) return 0;
        int resumed = 0;
        foreach (var id in await store.UnfinishedAsync(cancellationToken))
        {
            try
            {
                if (jobs.Running(id) is not null) continue;
                var job = await store.GetAsync(id, false, cancellationToken);
                if (job is null || job.IsFinished || job.LeaseUntil > time.GetUtcNow()) continue;
                if (await jobs.StartIfClaimedAsync(id, null, attach: false, cancellationToken) is not null) resumed++;
            }
            catch (Exception ex) when (ex is not OperationCanceledException && ErrorTable.KindOf(ex) != FailureKind.StoreUnavailable)
            {
                // One record that cannot be read (written by an incompatible version, or by hand) must not keep
                // every job after it in the set from being taken over, round after round.
                LogUnreadable(logger, ex, id);
            }
        }
        return resumed;
    }

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} was not taken over: its record could not be read or started")]
    private static partial void LogUnreadable(ILogger logger, Exception exception, string job);

    [LoggerMessage(Level = LogLevel.Information, Message = "Resumed {Count} unfinished job(s) from the job store")]
    private static partial void LogResumed(ILogger logger, int count);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job maintenance skipped: {Error}")]
    private static partial void LogStoreDown(ILogger logger, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job maintenance failed; retrying next period")]
    private static partial void LogFailed(ILogger logger, Exception exception);
}
