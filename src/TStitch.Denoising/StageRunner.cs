using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>
/// Runs one stage of a trajectory inside the replica: the same <see cref="Trajectory"/> code the
/// orchestrator would run, over this replica's model behind its <see cref="DynamicBatcher"/> (so steps
/// of concurrent jobs still share model runs). It holds one latent batch per run; the caller's
/// cancellation stops it within a step; a replica that starts shutting down stops after the step in
/// flight and hands the stage back with a checkpoint.
/// </summary>
public sealed partial class StageRunner(DynamicBatcher batcher, IOptions<DenoiserOptions> options, IHostApplicationLifetime lifetime,
    ILogger<StageRunner> logger)
{
    /// <summary>Longest a step event waits in the write buffer, so progress stays live for long steps.</summary>
    public static readonly TimeSpan ProgressFlushInterval = TimeSpan.FromMilliseconds(20);
    private static readonly WriteOptions Buffered = new(WriteFlags.BufferHint);

    public async Task RunAsync(StageRunRequest request, IServerStreamWriter<StageRunEvent> events, CancellationToken cancellationToken)
    {
        var info = batcher.Info;
        // Enlisted for the whole run, so the batcher can keep concurrent stage runs' steps in one model run.
        using var enlisted = batcher.Enlist();
        var trajectory = new Trajectory(StageRunMessages.ToRequest(request.Trajectory, info),
            new Dictionary<string, IDenoiser> { [info.Name] = enlisted });
        if (trajectory.Batch > options.Value.MaxSamplesPerCall)
            throw new InvalidRequestException("trajectory.class_labels",
                $"A stage run of {trajectory.Batch} samples exceeds this pool's MaxSamplesPerCall of {options.Value.MaxSamplesPerCall}; " +
                    $"split the job.");
        var state = trajectory.CheckState(StageRunMessages.FromStartCheckpoint(request.State, trajectory));
        int from = state.Step;
        if (request.ToStep <= from || request.ToStep > trajectory.Steps)
            throw new InvalidRequestException("to_step",
                $"to_step {request.ToStep} must be in ({from}, {trajectory.Steps}]: the stage starts at step {from} of " +
                    $"{trajectory.Steps}.");
        if (request.CheckpointEvery < 0)
            throw new InvalidRequestException("checkpoint_every", $"checkpoint_every must be >= 0, got {request.CheckpointEvery}.");

        using var activity = DenoisingTelemetry.ActivitySource.StartActivity("stage.run");
        activity?.SetTag("tstitch.job", request.JobId);
        activity?.SetTag("tstitch.model", info.Name);
        activity?.SetTag("tstitch.from_step", from);
        activity?.SetTag("tstitch.to_step", request.ToStep);
        activity?.SetTag("tstitch.batch", trajectory.Batch);
        long started = Stopwatch.GetTimestamp();
        try { await RunStepsAsync(request, events, trajectory, state, from, cancellationToken); }
        finally { DenoisingTelemetry.StageRan(info.Name, Stopwatch.GetElapsedTime(started)); }
    }

    private async Task RunStepsAsync(StageRunRequest request, IServerStreamWriter<StageRunEvent> events, Trajectory trajectory,
        SamplerState state, int from, CancellationToken cancellationToken)
    {
        var info = batcher.Info;
        // Checkpoint messages wrap the live buffers: WriteAsync serialises them before it returns, and the
        // next step only starts after that.
        Task WriteCheckpointAsync() =>
            events.WriteAsync(new StageRunEvent { Checkpoint = StageRunMessages.ToCheckpoint(state, info, copy: false) },
                cancellationToken);
        long flushed = Stopwatch.GetTimestamp();
        while (state.Step < request.ToStep)
        {
            var done = await trajectory.StepAsync(state, cancellationToken);
            bool last = state.Step == request.ToStep;
            // A checkpoint goes out before its step's event, so a caller that has seen step k has also
            // been handed every checkpoint up to k.
            if (!last && request.CheckpointEvery > 0 && (state.Step - from) % request.CheckpointEvery == 0) await WriteCheckpointAsync();
            // Step events are buffered and go out with the next flush (a checkpoint, the final state, or
            // after ProgressFlushInterval): a flush per step would cost a network write per model call.
            bool flush = Stopwatch.GetElapsedTime(flushed) >= ProgressFlushInterval;
            events.WriteOptions = flush ? null : Buffered;
            await events.WriteAsync(new StageRunEvent
            {
                Step = new StageStep { Step = done.Step + 1, Timestep = done.Timestep, RunMs = done.DenoiseTime.TotalMilliseconds },
            }, cancellationToken);
            events.WriteOptions = null;
            if (flush) flushed = Stopwatch.GetTimestamp();
            if (last) break;
            if (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                await WriteCheckpointAsync();
                LogHandedBack(logger, request.JobId, state.Step, request.ToStep);
                throw new ServiceFailureException(FailureKind.ShuttingDown,
                    $"The '{info.Name}' replica is shutting down; it handed the stage back at step {state.Step}: resume from that " +
                        $"checkpoint.");
            }
        }
        await events.WriteAsync(new StageRunEvent { Final = StageRunMessages.ToCheckpoint(state, info, copy: false) }, cancellationToken);
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Shutting down: the stage run of job {Job} was handed back at step {Step} (of {ToStep}) with a checkpoint")]
    private static partial void LogHandedBack(ILogger logger, string job, int step, int toStep);
}
