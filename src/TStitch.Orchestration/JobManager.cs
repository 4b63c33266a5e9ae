using System.Collections.Concurrent;
using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Models.Imaging;
using TStitch.Protos;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// Runs jobs: one stitched <see cref="Trajectory"/> per job, against the pools its schedule names,
/// checkpointing to the <see cref="IJobStore"/> after every step. A job runs on the orchestrator
/// that claimed it in the store; the in-memory table only holds handles for cancellation and
/// waiting, while the job's state is the store's.
/// </summary>
public sealed class JobManager(IJobStore store, DenoiserPools pools, IOptions<OrchestratorOptions> options,
    IHostApplicationLifetime lifetime, ILogger<JobManager> logger) : IHostedService
{
    public static readonly ActivitySource ActivitySource = new("TStitch.Orchestrator");
    private readonly ConcurrentDictionary<string, RunningJob> _running = new();
    // Bounds trajectories in flight; jobs beyond it wait here and show `queued` in the store.
    private readonly SemaphoreSlim _slots = new(options.Value.MaxRunningJobs, options.Value.MaxRunningJobs);

    public delegate ValueTask ProgressHandler(StepProgress progress);

    /// <summary>This orchestrator's name in job claims (jobs it runs carry it as their owner).</summary>
    public string InstanceId { get; } = $"{Environment.MachineName}-{Guid.NewGuid():N}";
    private DateTimeOffset LeaseEnd() => DateTimeOffset.UtcNow + options.Value.JobLease;

    public TrajectoryRequest Validate(GenerateRequest request) => RequestMapping.ToTrajectory(request, pools.Names, options.Value.MaxBatch);

    public RunningJob? Running(string id) => _running.TryGetValue(id, out var job) ? job : null;

    public Task<JobRecord?> GetAsync(string id, bool withData, CancellationToken cancellationToken) => store.GetAsync(id, withData, cancellationToken);

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
        var (stored, created) = await store.CreateAsync(record, cancellationToken);
        if (!created && !stored.Request.Equals(request))
            throw new ArgumentException($"job_id '{id}' already names a different request; use a new id.", "job_id");
        if (stored.FailedTransiently)
        {
            // A pool was down: the same request again resumes the job from its checkpoint.
            var requeued = stored.Finish(JobStatus.Queued, StatusCode.OK, "");
            if (await store.SaveAsync(requeued, cancellationToken)) stored = requeued;
        }
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
        return (stored, await StartIfClaimedAsync(stored.Id, progress, cancellationToken));
    }

    private async Task<RunningJob?> StartIfClaimedAsync(string id, ProgressHandler? progress, CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return null;
        if (!await store.TryClaimAsync(id, InstanceId, LeaseEnd(), cancellationToken)) return null;
        // Start from what the store holds now (the claim may have raced a save by the previous owner).
        var job = await store.GetAsync(id, true, cancellationToken);
        if (job is null || job.IsFinished) return null;
        if (await store.IsCancelRequestedAsync(id, cancellationToken))
        {
            await store.SaveAsync(job.Finish(JobStatus.Cancelled, StatusCode.Cancelled, "cancelled by the client"), cancellationToken);
            await store.ReleaseAsync(id, InstanceId, cancellationToken);
            return null;
        }
        return Start(job, progress);
    }

    /// <summary>Runs <paramref name="job"/> (claimed by this orchestrator) from its stored checkpoint.</summary>
    private RunningJob Start(JobRecord job, ProgressHandler? progress)
    {
        var running = new RunningJob(job.Id, new CancellationTokenSource());
        // The task exists before the job is published, so a second caller attaching to it always
        // finds a real Completion; it only starts once this caller has won the id.
        var published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        running.Completion = Task.Run(async () =>
        {
            await published.Task;
            try
            {
                // Shutdown is recorded as the reason before anything is cancelled, so the job stays
                // resumable even though the callers' calls are cancelled by the same shutdown.
                using var onShutdown = lifetime.ApplicationStopping.Register(() => running.Stop(StopReason.Shutdown));
                return await RunAsync(job, running, progress);
            }
            finally
            {
                running.Cancellation.Dispose();
            }
        });
        while (!_running.TryAdd(job.Id, running))
        {
            if (_running.TryGetValue(job.Id, out var winner))
            {
                published.SetCanceled();
                return winner;
            }
        }
        // Nobody may be waiting (recovered jobs): observe failures so they are logged, not lost.
        _ = running.Completion.ContinueWith(t => logger.LogDebug(t.Exception, "Job {Job} ended with an error", job.Id),
            CancellationToken.None, TaskContinuationOptions.OnlyOnFaulted, TaskScheduler.Default);
        published.SetResult();
        return running;
    }

    private async Task<JobRecord> RunAsync(JobRecord job, RunningJob running, ProgressHandler? progress)
    {
        var ct = running.Cancellation.Token;
        Activity.Current = null; // A job is its own trace (it outlives the request that started it, as resumed jobs do): Task.Run flowed in the Generate span.
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
            job = job with { Status = JobStatus.Running, ResumedFromStep = resuming ? job.Step : job.ResumedFromStep, Updated = DateTimeOffset.UtcNow };
            await SaveOwnedAsync(job, running);
            if (resuming) logger.LogInformation("Job {Job} resumes at step {Step}/{Steps}", job.Id, job.Step, job.Steps);

            await trajectory.RunAsync(state, async (step, _) =>
            {
                calls[step.ModelId] = calls.GetValueOrDefault(step.ModelId) + 1;
                job = job with
                {
                    Step = step.Step + 1, Latents = step.State.Latents, PreviousX0 = step.State.PreviousX0,
                    CallsPerPool = new Dictionary<string, int>(calls), Updated = DateTimeOffset.UtcNow,
                };
                // The checkpoint is written even if the job is being stopped, so no finished step is lost.
                await SaveOwnedAsync(job, running);
                if (progress is not null)
                    await Report(progress, new StepProgress
                    {
                        Step = step.Step + 1, Steps = step.Steps, Pool = step.ModelId, Timestep = step.Timestep, ElapsedMs = clock.Elapsed.TotalMilliseconds,
                    });
            }, ct);

            var output = (OutputKind)job.Request.Output;
            var info = trajectory.Shape;
            return await EndAsync(running, job.Finish(JobStatus.Succeeded, StatusCode.OK, "") with
            {
                Latents = null, PreviousX0 = null,
                Png = output is OutputKind.Png or OutputKind.PngAndRaw
                    ? ImageGrid.ToPng(state.Latents, trajectory.Batch, info.Channels, info.Height, info.Width, trajectory.Batch) : null,
                Samples = output is OutputKind.Raw or OutputKind.PngAndRaw ? state.Latents : null,
            });
        }
        catch (Exception) when (running.StopReason == StopReason.LeaseLost)
        {
            // Another orchestrator owns the job now; it writes the job from here on.
            logger.LogWarning("Job {Job} was taken over by another orchestrator at step {Step}; stopped here", job.Id, job.Step);
            throw new OperationCanceledException($"Job {job.Id} was taken over by another orchestrator.");
        }
        catch (OperationCanceledException) when (running.StopReason == StopReason.Shutdown)
        {
            // Leave it running in the store, lease released: the next orchestrator resumes it at once
            // from the last checkpoint (after a crash it waits for the lease to expire instead).
            await store.ReleaseAsync(job.Id, InstanceId, CancellationToken.None);
            logger.LogInformation("Job {Job} interrupted by shutdown at step {Step}; it resumes on restart", job.Id, job.Step);
            throw;
        }
        catch (OperationCanceledException) when (running.StopReason is StopReason.ClientCancelled)
        {
            return await EndAsync(running, job.Finish(JobStatus.Cancelled, StatusCode.Cancelled, "cancelled by the client"));
        }
        catch (OperationCanceledException) when (running.StopReason is StopReason.DeadlineExceeded)
        {
            return await EndAsync(running, job.Finish(JobStatus.Failed, StatusCode.DeadlineExceeded, "deadline exceeded"));
        }
        catch (Exception ex)
        {
            // Any other failure ends the job as failed in the store: nothing is left `running` forever.
            logger.LogWarning("Job {Job} failed at step {Step}: {Error}", job.Id, job.Step, ex.Message);
            var code = ex switch
            {
                PoolUnavailableException => StatusCode.Unavailable,
                ArgumentException => StatusCode.InvalidArgument,
                _ => StatusCode.Internal,
            };
            await EndAsync(running, job.Finish(JobStatus.Failed, code, ex.Message));
            throw;
        }
        finally
        {
            if (slot) _slots.Release();
            _running.TryRemove(job.Id, out _);
        }
    }

    private async Task SaveOwnedAsync(JobRecord job, RunningJob running)
    {
        if (await store.SaveAsync(job with { Owner = InstanceId }, CancellationToken.None)) return;
        running.Stop(StopReason.LeaseLost);
        throw new OperationCanceledException($"Job {job.Id} was taken over by another orchestrator.");
    }

    /// <summary>Final save of a finished job, then its lease is released (a finished job has no runner).</summary>
    private async Task<JobRecord> EndAsync(RunningJob running, JobRecord job)
    {
        await SaveOwnedAsync(job, running);
        await store.ReleaseAsync(job.Id, InstanceId, CancellationToken.None);
        return job;
    }

    /// <summary>A progress listener that went away must not fail the job.</summary>
    private async ValueTask Report(ProgressHandler progress, StepProgress p)
    {
        try { await progress(p); }
        catch (Exception ex)
        {
            logger.LogDebug("Progress listener failed: {Error}", ex.Message);
        }
    }

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
            catch (Exception) { } // whatever ended it, the store says how
        }
        var job = await store.GetAsync(id, false, cancellationToken) ?? throw new KeyNotFoundException($"No job with id '{id}'.");
        if (job.IsFinished) return job;
        if (await store.TryClaimAsync(id, InstanceId, LeaseEnd(), cancellationToken))
        {
            var full = await store.GetAsync(id, true, cancellationToken) ?? job;
            job = full.Finish(JobStatus.Cancelled, StatusCode.Cancelled, "cancelled by the client") with { Owner = InstanceId };
            await store.SaveAsync(job, cancellationToken);
            await store.ReleaseAsync(id, InstanceId, cancellationToken);
            return job;
        }
        await store.RequestCancelAsync(id, cancellationToken);
        return job;
    }

    /// <summary>
    /// Housekeeping every third of a lease: renews the leases of jobs running here (stopping any this
    /// orchestrator has lost), stops those another orchestrator was asked to cancel, and takes over
    /// unfinished jobs whose owner's lease expired (an orchestrator that died), from their checkpoints.
    /// </summary>
    public async Task<int> MaintainAsync(CancellationToken cancellationToken)
    {
        if (lifetime.ApplicationStopping.IsCancellationRequested) return 0;
        foreach (var (id, running) in _running)
        {
            if (await store.IsCancelRequestedAsync(id, cancellationToken)) running.Stop(StopReason.ClientCancelled);
            else if (!await store.TryClaimAsync(id, InstanceId, LeaseEnd(), cancellationToken)
                     && (await store.GetAsync(id, false, cancellationToken))?.Owner is { } owner && owner != InstanceId)
                running.Stop(StopReason.LeaseLost);
        }
        int resumed = 0;
        foreach (var id in await store.UnfinishedAsync(cancellationToken))
        {
            if (_running.ContainsKey(id)) continue;
            var job = await store.GetAsync(id, false, cancellationToken);
            if (job is null || job.IsFinished || job.LeaseUntil > DateTimeOffset.UtcNow) continue;
            if (await StartIfClaimedAsync(id, null, cancellationToken) is not null) resumed++;
        }
        return resumed;
    }

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    /// <summary>Waits (within the host's shutdown timeout) for stopping jobs to write their checkpoints and release their leases.</summary>
    public async Task StopAsync(CancellationToken cancellationToken)
    {
        foreach (var running in _running.Values) running.Stop(StopReason.Shutdown);
        try { await Task.WhenAll(_running.Values.Select(r => r.Completion)).WaitAsync(cancellationToken); }
        catch (Exception) { } // each job recorded its own outcome
    }
}
