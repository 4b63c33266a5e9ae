using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// One stage of a job for a pool to run: steps [<see cref="Start"/>.Step, <see cref="To"/>) of
/// <see cref="Trajectory"/>, with a checkpoint every <see cref="CheckpointEvery"/> steps. The callbacks
/// see every step event and every checkpoint as they arrive.
/// </summary>
public sealed record StageRun(
    TrajectoryRequest Trajectory,
    SamplerState Start,
    int To,
    int CheckpointEvery,
    string JobId,
    Func<StageStep, ValueTask> OnStep,
    Func<SamplerState, ValueTask> OnCheckpoint);
