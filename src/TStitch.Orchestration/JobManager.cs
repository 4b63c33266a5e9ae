using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Models.Imaging;
using TStitch.Protos;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>Why a running job was stopped: each ends in a different status.</summary>
public enum StopReason { None, ClientCancelled, DeadlineExceeded, Shutdown }

/// <summary>A job this orchestrator is executing: its cancellation and its completion.</summary>
public sealed class RunningJob(string id, CancellationTokenSource cancellation)
{
    public string Id { get; } = id;
    public CancellationTokenSource Cancellation { get; } = cancellation;
    public StopReason StopReason { get; private set; }
    public Task<JobRecord> Completion { get; internal set; } = Task.FromResult<JobRecord>(null!);

    public void Stop(StopReason reason)
    {
        if (StopReason == StopReason.None) StopReason = reason;
        try { Cancellation.Cancel(); }
        catch (ObjectDisposedException) { } // the job has already finished
    }
}

/// <summary>
/// Runs jobs: one stitched <see cref="Trajectory"/> per job, against the pools its schedule names,
/// checkpointing to the <see cref="IJobStore"/> after every step. The in-memory table only holds
/// handles for cancellation and waiting; the job's state is the store's.
/// </summary>
public sealed class JobManager(IJobStore store, DenoiserPools pools, IOptions<OrchestratorOptions> options,
    IHostApplicationLifetime lifetime, ILogger<JobManager> logger)
{
    public static readonly ActivitySource ActivitySource = new("TStitch.Orchestrator");
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();
    // Bounds trajectories in flight; jobs beyond it wait here and show `queued` in the store.
    private readonly SemaphoreSlim _slots = new(options.Value.MaxRunningJobs, options.Value.MaxRunningJobs);

    public delegate ValueTask ProgressHandler(StepProgress progress);

    /// <summary>This orchestrator's name in job claims (jobs it runs carry it as their owner).</summary>
    public string InstanceId { get; } = $"{Environment.MachineName}-{Guid.NewGuid():N}";
    private TimeSpan Lease => options.Value.JobLease;
    private DateTimeOffset LeaseEnd() => DateTimeOffset.UtcNow + Lease;

    public TrajectoryRequest Validate(GenerateRequest request) => RequestMapping.ToTrajectory(request, pools.Names, options.Value.MaxBatch);

    public RunningJob? Running(string id) => _running.TryGetValue(id, out var job) ? job : null;

    /// <summary>Creates the job (or finds the one with the same client id) and makes sure it runs or has run.</summary>
    public async Task<(JobRecord Job, RunningJob? Running)> SubmitAsync(GenerateRequest request, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        var trajectory = Validate(request);
        try
        {
            // Checks against the models themselves (class range, shapes) before a job exists.
            _ = new Trajectory(trajectory, await pools.ResolveAsync(trajectory.Schedule.ModelIds, cancellationToken));
        }
        catch (PoolUnavailableException)
        {
            // Still create the job: its run records the failure, so the store shows why it failed.
        }
        var id = string.IsNullOrWhiteSpace(request.JobId) ? Guid.NewGuid().ToString("N") : request.JobId;
        var record = new JobRecord { Id = id, Request = request, Steps = trajectory.Steps, Schedule = trajectory.Schedule.ToString() };
        var (stored, _) = await store.CreateAsync(record, cancellationToken);
        return await FollowAsync(stored, progress, cancellationToken);
    }

    /// <summary>
    /// Where a job stands for a caller waiting on it: finished; running here (attach to it); or not
    /// running anywhere alive (claim it and run it here from its checkpoint). If another live
    /// orchestrator holds it, the result has no handle and the caller polls again.
    /// </summary>
    public async Task<(JobRecord Job, RunningJob? Running)> FollowAsync(JobRecord stored, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        if (stored.IsFinished) return (stored, null);
        if (_running.TryGetValue(stored.Id, out var existing)) return (stored, existing);
        return (stored, await StartIfClaimedAsync(stored, progress, cancellationToken));
    }

    private async Task<RunningJob?> StartIfClaimedAsync(JobRecord job, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        var leaseUntil = LeaseEnd();
        if (!await store.TryClaimAsync(job.Id, InstanceId, leaseUntil, cancellationToken)) return null;
        return Start(job with { Owner = InstanceId, LeaseUntil = leaseUntil }, progress);
    }

    /// <summary>Runs <paramref name="job"/> (claimed by this orchestrator) from its stored checkpoint.</summary>
    private RunningJob Start(JobRecord job, ProgressHandler? progress = null)
    {
        var running = new RunningJob(job.Id, new CancellationTokenSource());
        // The task exists before the job is published, so a second caller attaching to it always
        // finds a real Completion; it only starts once this caller has won the id.
        var published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        running.Completion = Task.Run(async () =>
        {
            await published.Task;
            // Shutdown is recorded as the reason before anything is cancelled, so the job stays
            // resumable even though the callers' calls are cancelled by the same shutdown.
            try
            {
                using var onShutdown = lifetime.ApplicationStopping.Register(() => running.Stop(StopReason.Shutdown));
                return await RunAsync(job, running, progress);
            }
            finally
            {
                running.Cancellation.Dispose();
            }
        });
        if (!_running.TryAdd(job.Id, running))
        {
            published.SetCanceled();
            running.Cancellation.Dispose();
            return _running[job.Id];
        }
        published.SetResult();
        return running;
    }

    private async Task<JobRecord> RunAsync(JobRecord job, RunningJob running, ProgressHandler? progress)
    {
        var ct = running.Cancellation.Token;
        using var activity = ActivitySource.StartActivity("job");
        activity?.SetTag("tstitch.job", job.Id);
        activity?.AddBaggage("tstitch.job", job.Id);
        var clock = Stopwatch.StartNew();
        var calls = new Dictionary<string, int>(job.CallsPerPool);
        bool slot = false;
        try
        {
            await _slots.WaitAsync(ct);
            slot = true;
            var request = Validate(job.Request);
            var trajectory = new Trajectory(request, await pools.ResolveAsync(request.Schedule.ModelIds, ct));
            bool resuming = job.Step > 0 && job.Latents is not null;
            var state = resuming ? new SamplerState(job.Step, job.Latents!, job.PreviousX0) : trajectory.Start();
            job = job with { Status = JobStatus.Running, ResumedFromStep = resuming ? job.Step : job.ResumedFromStep, Updated = DateTimeOffset.UtcNow, LeaseUntil = LeaseEnd() };
            await store.SaveAsync(job, CancellationToken.None);
            if (resuming) logger.LogInformation("Job {Job} resumes at step {Step}/{Steps}", job.Id, job.Step, job.Steps);

            await trajectory.RunAsync(state, async (step, _) =>
            {
                calls[step.ModelId] = calls.GetValueOrDefault(step.ModelId) + 1;
                job = job with
                {
                    Step = step.Step + 1, Latents = step.State.Latents, PreviousX0 = step.State.PreviousX0,
                    CallsPerPool = new Dictionary<string, int>(calls), Updated = DateTimeOffset.UtcNow, LeaseUntil = LeaseEnd(),
                };
                // The checkpoint is written even if the job is being stopped, so no finished step is lost.
                await store.SaveAsync(job, CancellationToken.None);
                if (progress is not null)
                    await Report(progress, new StepProgress
                    {
                        Step = step.Step + 1, Steps = step.Steps, Pool = step.ModelId, Timestep = step.Timestep, ElapsedMs = clock.Elapsed.TotalMilliseconds,
                    });
            }, ct);

            var output = (OutputKind)job.Request.Output;
            var info = trajectory.Shape;
            job = job with
            {
                Status = JobStatus.Succeeded, Updated = DateTimeOffset.UtcNow, Latents = null, PreviousX0 = null,
                Png = output is OutputKind.Png or OutputKind.PngAndRaw
                    ? ImageGrid.ToPng(state.Latents, trajectory.Batch, info.Channels, info.Height, info.Width, trajectory.Batch) : null,
                Samples = output is OutputKind.Raw or OutputKind.PngAndRaw ? state.Latents : null,
            };
            await store.SaveAsync(job, CancellationToken.None);
            return job;
        }
        catch (OperationCanceledException) when (running.StopReason == StopReason.Shutdown)
        {
            // Leave it running in the store, lease released: the next orchestrator resumes it at once
            // from the last checkpoint (after a crash it waits for the lease to expire instead).
            await store.SaveAsync(job with { LeaseUntil = DateTimeOffset.UnixEpoch }, CancellationToken.None);
            logger.LogInformation("Job {Job} interrupted by shutdown at step {Step}; it resumes on restart", job.Id, job.Step);
            throw;
        }
        catch (OperationCanceledException) when (running.StopReason is StopReason.ClientCancelled or StopReason.DeadlineExceeded)
        {
            var cancelled = running.StopReason == StopReason.ClientCancelled;
            job = job with
            {
                Status = cancelled ? JobStatus.Cancelled : JobStatus.Failed, Updated = DateTimeOffset.UtcNow,
                Error = cancelled ? "cancelled by the client" : "deadline exceeded",
            };
            await store.SaveAsync(job, CancellationToken.None);
            return job;
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            // Any failure ends the job as failed in the store: nothing is left `running` forever.
            logger.LogWarning("Job {Job} failed at step {Step}: {Error}", job.Id, job.Step, ex.Message);
            job = job with { Status = JobStatus.Failed, Error = ex.Message, Updated = DateTimeOffset.UtcNow };
            await store.SaveAsync(job, CancellationToken.None);
            throw;
        }
        finally
        {
            if (slot) _slots.Release();
            _running.TryRemove(job.Id, out _);
        }
    }

    /// <summary>A progress listener that went away must not fail the job.</summary>
    private async ValueTask Report(ProgressHandler progress, StepProgress p)
    {
        try { await progress(p); }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            logger.LogDebug("Progress listener failed: {Error}", ex.Message);
        }
        catch (OperationCanceledException) { }
    }

    public Task<JobRecord?> GetAsync(string id, CancellationToken cancellationToken) => store.GetAsync(id, cancellationToken);

    /// <summary>
    /// Cancels a job: stops it here if it runs here; if no live orchestrator runs it, marks it
    /// cancelled; otherwise asks its owner, which stops it at its next lease renewal.
    /// </summary>
    public async Task<JobRecord> CancelAsync(string id, CancellationToken cancellationToken)
    {
        if (_running.TryGetValue(id, out var running))
        {
            running.Stop(StopReason.ClientCancelled);
            try { return await running.Completion; }
            catch (OperationCanceledException) { }
        }
        var job = await store.GetAsync(id, cancellationToken) ?? throw new KeyNotFoundException($"No job with id '{id}'.");
        if (job.IsFinished) return job;
        if (await store.TryClaimAsync(id, InstanceId, LeaseEnd(), cancellationToken))
        {
            job = job with { Status = JobStatus.Cancelled, Error = "cancelled by the client", Updated = DateTimeOffset.UtcNow, Owner = InstanceId };
            await store.SaveAsync(job, cancellationToken);
            return job;
        }
        await store.RequestCancelAsync(id, cancellationToken);
        return job;
    }

    /// <summary>
    /// Housekeeping every third of a lease: renews the leases of jobs running here, stops those
    /// another orchestrator was asked to cancel, and takes over unfinished jobs whose owner's lease
    /// expired (an orchestrator that died), resuming them from their checkpoints.
    /// </summary>
    public async Task<int> MaintainAsync(CancellationToken cancellationToken)
    {
        foreach (var (id, running) in _running)
        {
            if (await store.IsCancelRequestedAsync(id, cancellationToken)) running.Stop(StopReason.ClientCancelled);
            else await store.TryClaimAsync(id, InstanceId, LeaseEnd(), cancellationToken);
        }
        int resumed = 0;
        foreach (var id in await store.UnfinishedAsync(cancellationToken))
        {
            if (_running.ContainsKey(id)) continue;
            var job = await store.GetAsync(id, cancellationToken);
            if (job is null || job.IsFinished || job.LeaseUntil > DateTimeOffset.UtcNow) continue;
            if (await StartIfClaimedAsync(job, null, cancellationToken) is not null) resumed++;
        }
        return resumed;
    }
}
