using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
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
public sealed class StageRunner(DynamicBatcher batcher, IOptions<DenoiserOptions> options, IHostApplicationLifetime lifetime)
{
    public async Task RunAsync(StageRunRequest request, IServerStreamWriter<StageRunEvent> events, CancellationToken cancellationToken)
    {
        var info = batcher.Info;
        var trajectory = new Trajectory(StageRunMessages.ToRequest(request.Trajectory, info),
            new Dictionary<string, IDenoiser> { [info.Name] = batcher });
        if (trajectory.Batch > options.Value.MaxSamplesPerCall)
            throw new InvalidRequestException("trajectory.class_labels",
                $"A stage run of {trajectory.Batch} samples exceeds this pool's MaxSamplesPerCall of {options.Value.MaxSamplesPerCall}; split the job.");
        var state = trajectory.CheckState(request.State.ToState(trajectory.Batch, info));
        int from = state.Step;
        if (request.ToStep <= from || request.ToStep > trajectory.Steps)
            throw new InvalidRequestException("to_step", $"to_step {request.ToStep} must be in ({from}, {trajectory.Steps}]: the stage starts at step {from} of {trajectory.Steps}.");
        if (request.CheckpointEvery < 0)
            throw new InvalidRequestException("checkpoint_every", $"checkpoint_every must be >= 0, got {request.CheckpointEvery}.");

        using var activity = DenoisingTelemetry.ActivitySource.StartActivity("stage.run");
        activity?.SetTag("tstitch.job", request.JobId);
        activity?.SetTag("tstitch.model", info.Name);
        activity?.SetTag("tstitch.from_step", from);
        activity?.SetTag("tstitch.to_step", request.ToStep);
        activity?.SetTag("tstitch.batch", trajectory.Batch);
        while (state.Step < request.ToStep)
        {
            var done = await trajectory.StepAsync(state, cancellationToken);
            await events.WriteAsync(new StageRunEvent
            {
                Step = new StageStep { Step = done.Step + 1, Timestep = done.Timestep, RunMs = done.DenoiseTime.TotalMilliseconds },
            }, cancellationToken);
            if (state.Step == request.ToStep) break;
            // The checkpoint message wraps the live buffers: WriteAsync serialises it before returning,
            // and the next step only starts after that.
            if (lifetime.ApplicationStopping.IsCancellationRequested)
            {
                await events.WriteAsync(new StageRunEvent { Checkpoint = StageRunMessages.ToCheckpoint(state, info, copy: false) }, cancellationToken);
                throw new ServiceFailureException(FailureKind.ShuttingDown,
                    $"The '{info.Name}' replica is shutting down; it handed the stage back at step {state.Step}: resume from that checkpoint.");
            }
            if (request.CheckpointEvery > 0 && (state.Step - from) % request.CheckpointEvery == 0)
                await events.WriteAsync(new StageRunEvent { Checkpoint = StageRunMessages.ToCheckpoint(state, info, copy: false) }, cancellationToken);
        }
        await events.WriteAsync(new StageRunEvent { Final = StageRunMessages.ToCheckpoint(state, info, copy: false) }, cancellationToken);
    }
}
