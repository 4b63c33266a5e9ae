using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting;
using TStitch.Hosting.Errors;
using TStitch.Imaging;
using TStitch.Orchestration.Frontier;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// Runs one job this orchestrator has claimed: resumes it from its stored checkpoint, drives it stage
/// by stage over the pools (a stage run per stage, or a Denoise call per step in
/// <see cref="RunMode.Step"/>), checkpoints to the job store at every stage boundary and every
/// <see cref="OrchestratorOptions.CheckpointEvery"/> steps (the writes land in order behind the run, see
/// <see cref="JobCheckpoints.SaveBehind"/>), reports each step once, in order, encodes the result, and
/// records how the job ended. It holds one latent batch per job.
/// </summary>
public sealed partial class JobRunner(DenoiserPools pools, JobCheckpoints checkpoints, PromptEncoder prompts,
    IOptions<OrchestratorOptions> options, TimeProvider time, ILogger<JobRunner> logger, PoolStepTimes? stepTimes = null,
    JobLatencies? latencies = null)
{
    public static readonly ActivitySource ActivitySource = new("TStitch.Orchestrator");
    private readonly OrchestratorOptions _options = options.Value;

    /// <summary>Runs <paramref name="job"/> once <paramref name="admission"/> lets it (a running slot), and records how it ended.</summary>
    public async Task<JobRecord> RunAsync(JobRecord job, RunningJob running, Func<CancellationToken, Task> admission)
    {
        var ct = running.Cancellation.Token;
        // A job is a trace of its own: its root span is not a child of whichever call happened to start it.
        Activity.Current = null;
        using var activity = ActivitySource.StartActivity("job");
        activity?.SetTag("tstitch.job", job.Id);
        activity?.SetTag("tstitch.schedule", job.Schedule);
        activity?.SetTag("tstitch.steps", job.Steps);
        activity?.SetTag("tstitch.run_mode", _options.RunMode.ToString().ToLowerInvariant());
        if (job.Spec.ScheduleReason is { } reason) activity?.SetTag("tstitch.schedule_reason", reason);
        if (job.Spec.ScheduleAsk is not null) activity?.SetTag("tstitch.load_shift", job.Spec.LoadShift);
        using var scope = JobLogScope.Begin(logger, job.Id);
        var clock = Stopwatch.StartNew();
        // This attempt's submit: the create, or the requeue of a resubmitted job (not its first submit, which may have
        // been long before, with the caller's retry gap in between).
        var submitted = job.Updated;
        int reported = job.CheckpointStep; // steps reported to callers; ahead of the checkpoint between checkpoints
        try
        {
            await admission(ct);
            var admitted = clock.Elapsed;
            OrchestratorMetrics.JobStarted();
            var request = job.Spec.ToTrajectory(job.Spec.Prompts is null ? null : await prompts.EncodeAsync(job.Spec, ct));
            var clients = await pools.ResolveAsync(request.Schedule.ModelIds, ct);
            var trajectory = new Trajectory(request, clients.ToDictionary(c => c.Key, c => (IDenoiser)new RemoteDenoiser(c.Value, job.Id)));
            bool resuming = job.CheckpointStep > 0 && job.Latents is not null;
            // Copies: step mode steps its state in place, and the record's arrays must stay the checkpoint they are
            // labelled with (every write until the next checkpoint carries them).
            var state = resuming
                ? trajectory.CheckState(new SamplerState(job.CheckpointStep, (float[])job.Latents!.Clone(),
                    (float[]?)job.PreviousX0?.Clone()))
                : trajectory.Start();
            var shape = trajectory.Shape;
            job = job with
            {
                Status = JobStatus.Running, Step = state.Step, ResumedFromStep = resuming ? state.Step : job.ResumedFromStep,
                SampleShape = [shape.Channels, shape.Height, shape.Width], Updated = time.GetUtcNow(),
            };
            // Behind the run like every write but the last: the first stage need not wait for Redis.
            await checkpoints.SaveBehind(job, running, final: true);
            if (resuming) LogResumed(logger, job.Id, job.Step, job.Steps);
            reported = state.Step;
            async ValueTask ReportStep(string pool, int step, int timestep)
            {
                if (step <= reported) return; // re-run after a replica failed: reported already
                reported = step;
                OrchestratorMetrics.StepDone(pool);
                await running.ReportAsync(new StepProgress
                {
                    Step = step, Steps = request.Steps, Pool = pool, Timestep = timestep, ElapsedMs = clock.Elapsed.TotalMilliseconds,
                });
            }
            // The checkpoint's arrays are not written to afterwards (stage mode gets new ones from each
            // stage, step mode passes copies), so the write may land while the next steps run.
            ValueTask Checkpoint(SamplerState at)
            {
                job = job with
                {
                    Step = Math.Max(reported, at.Step), CheckpointStep = at.Step, Latents = at.Latents, PreviousX0 = at.PreviousX0,
                    CallsPerPool = Calls(job, Math.Max(reported, at.Step)), Updated = time.GetUtcNow(),
                };
                return checkpoints.SaveBehind(job, running, final: false);
            }

            foreach (var span in request.Schedule.Spans(request.Steps))
            {
                if (span.To <= state.Step) continue;
                var pool = clients[span.ModelId];
                using var stage = ActivitySource.StartActivity("stage");
                stage?.SetTag("tstitch.job", job.Id);
                stage?.SetTag("tstitch.pool", pool.Name);
                stage?.SetTag("tstitch.model", pool.Info.Name);
                stage?.SetTag("tstitch.from_step", state.Step);
                stage?.SetTag("tstitch.to_step", span.To);
                stage?.SetTag("tstitch.batch", trajectory.Batch);
                long stageStart = Stopwatch.GetTimestamp();
                int stageFrom = state.Step;
                if (_options.RunMode == RunMode.Stage)
                {
                    state = await pool.RunStageAsync(new StageRun(request, state, span.To, _options.CheckpointEvery, job.Id,
                        e => ReportStep(pool.Name, e.Step, e.Timestep), Checkpoint), ct);
                }
                else
                {
                    // The loop keeps stepping the live state: checkpoints keep a copy of it.
                    await trajectory.RunAsync(state, span.To, async (done, _) =>
                    {
                        await ReportStep(done.ModelId, done.Step + 1, done.Timestep);
                        int completed = done.Step + 1;
                        if (completed < span.To && (completed - stageFrom) % _options.CheckpointEvery == 0)
                            await Checkpoint(done.State.Clone());
                    }, ct);
                }
                var stageTime = Stopwatch.GetElapsedTime(stageStart);
                OrchestratorMetrics.StageRan(pool.Name, _options.RunMode, stageTime);
                // The live step cost the schedule chooser and the load controller predict with: the whole
                // stage, as this job paid for it (queueing in the pool, the call's start and checkpoints in).
                stepTimes?.Observe(pool.Name, stageTime.TotalMilliseconds, span.To - stageFrom, trajectory.Batch);
                if (state.Step < request.Steps) await Checkpoint(_options.RunMode == RunMode.Step ? state.Clone() : state);
            }

            await checkpoints.SavedAsync(running);
            var output = job.Spec.Output;
            byte[]? png = null;
            if (output is ResultFormat.Png or ResultFormat.PngAndRaw)
            {
                // Latent models: the pool that ran the last step decodes the final latents, once per job
                // (its replicas hold the decoder next to the model; no decoder pool to size or route).
                // Raw output stays the latents, so a caller can decode them itself.
                var last = JobModelCheck.LastPool(job.Spec, clients);
                if (last.ImageShape is { } image)
                {
                    using var decode = ActivitySource.StartActivity("decode");
                    decode?.SetTag("tstitch.job", job.Id);
                    decode?.SetTag("tstitch.pool", last.Name);
                    var pixels = await last.DecodeAsync(state.Latents, trajectory.Batch, job.Id, ct);
                    png = ImageGrid.ToPng(pixels, trajectory.Batch, image[0], image[1], image[2], trajectory.Batch);
                }
                else png = ImageGrid.ToPng(state.Latents, trajectory.Batch, shape.Channels, shape.Height, shape.Width, trajectory.Batch);
            }
            var succeeded = await checkpoints.EndAsync(running, job.Finish(JobStatus.Succeeded, FailureKind.None, "", time.GetUtcNow()) with
            {
                Step = request.Steps, CheckpointStep = request.Steps, Latents = null, PreviousX0 = null,
                CallsPerPool = Calls(job, request.Steps),
                Png = png,
                Samples = output is ResultFormat.Raw or ResultFormat.PngAndRaw ? state.Latents : null,
            });
            // What the load controller's target is about: submit to result of a job whose schedule it chose, the
            // final write with the result included (the caller has nothing before it lands). A resumed job's run
            // started in another attempt: not a latency of this load.
            if (job.Spec.ScheduleAsk is not null && job.ResumedFromStep == 0)
                latencies?.Observe((time.GetUtcNow() - submitted).TotalMilliseconds, (clock.Elapsed - admitted).TotalMilliseconds);
            return Ended(succeeded);
        }
        catch (Exception) when (running.StopReason == StopReason.LeaseLost)
        {
            // Another orchestrator owns the job now; it writes the job from here on.
            LogTakenOver(logger, job.Id, job.Step);
            throw new OperationCanceledException($"Job {job.Id} was taken over by another orchestrator.");
        }
        catch (OperationCanceledException) when (running.StopReason == StopReason.Shutdown)
        {
            // Leave it running in the store, lease released: the next orchestrator resumes it at once
            // from the last checkpoint (after a crash it waits for the lease to expire instead).
            await checkpoints.ReleaseAsync(running);
            LogInterrupted(logger, job.Id, job.Step);
            throw;
        }
        catch (OperationCanceledException)
            when (running.StopReason is StopReason.Cancelled or StopReason.CallerLeft or StopReason.DeadlineExceeded)
        {
            var (status, kind, error) = running.StopReason switch
            {
                StopReason.Cancelled => (JobStatus.Cancelled, FailureKind.Cancelled, JobRecord.CancelledByClient),
                StopReason.CallerLeft => (JobStatus.Cancelled, FailureKind.CallerLeft,
                    $"every caller went away at step {reported}; submit the same request (job_id) again to resume from step " +
                        $"{job.CheckpointStep}"),
                _ => (JobStatus.Failed, FailureKind.DeadlineExceeded,
                    $"deadline exceeded at step {reported}; submit the same request (job_id) again to resume from step " +
                        $"{job.CheckpointStep}"),
            };
            return Ended(await checkpoints.EndAsync(running, job.Finish(status, kind, error,
                time.GetUtcNow()) with { Step = Math.Max(reported, job.CheckpointStep), CallsPerPool = Calls(job, Math.Max(reported,
                    job.CheckpointStep)) }));
        }
        catch (Exception ex)
        {
            // Any other failure ends the job as failed in the store: nothing is left `running` forever.
            var kind = ErrorTable.KindOf(ex);
            bool unexpected = kind == FailureKind.Internal && ex is not ServiceFailureException;
            if (unexpected) LogCrashed(logger, ex, job.Id, job.Step);
            else LogFailed(logger, job.Id, job.Step, kind, ex.Message);
            // What a caller reads (GetJob, Generate's status): an unexpected exception's message is for the log only,
            // as the error interceptor keeps it for direct calls.
            string error = unexpected
                ? $"internal error at step {Math.Max(reported, job.CheckpointStep)}; the orchestrator's log has the details (job {job.Id})"
                : ex.Message;
            Ended(await checkpoints.EndAsync(running, job.Finish(JobStatus.Failed, kind, error,
                time.GetUtcNow()) with { Step = Math.Max(reported, job.CheckpointStep), CallsPerPool = Calls(job, Math.Max(reported,
                    job.CheckpointStep)) }));
            throw;
        }
        finally
        {
            activity?.SetTag("tstitch.elapsed_ms", clock.Elapsed.TotalMilliseconds);
        }

        // How the job ended, counted once, where it is recorded (a run stopped by shutdown or a takeover did not end).
        JobRecord Ended(JobRecord ended)
        {
            OrchestratorMetrics.JobEnded(ended.Status, ended.Failure, clock.Elapsed);
            return ended;
        }
    }

    /// <summary>
    /// Model calls per pool for the first <paramref name="completed"/> steps: one per step, on the pool the
    /// schedule names (steps a failed replica had run and a sibling ran again count once).
    /// </summary>
    private static Dictionary<string, int> Calls(JobRecord job, int completed) =>
        job.Spec.Schedule.StepsPerModel(job.Steps, completed).Where(p => p.Value > 0).ToDictionary();

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} resumes at step {Step}/{Steps}")]
    private static partial void LogResumed(ILogger logger, string job, int step, int steps);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} was taken over by another orchestrator at step {Step}; stopped here")]
    private static partial void LogTakenOver(ILogger logger, string job, int step);

    [LoggerMessage(Level = LogLevel.Information, Message = "Job {Job} interrupted by shutdown at step {Step}; it resumes on restart")]
    private static partial void LogInterrupted(ILogger logger, string job, int step);

    [LoggerMessage(Level = LogLevel.Warning, Message = "Job {Job} failed at step {Step}: {Kind}: {Error}")]
    private static partial void LogFailed(ILogger logger, string job, int step, FailureKind kind, string error);

    [LoggerMessage(Level = LogLevel.Error, Message = "Job {Job} failed unexpectedly at step {Step}")]
    private static partial void LogCrashed(ILogger logger, Exception exception, string job, int step);
}
