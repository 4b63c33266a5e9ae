using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>
/// The noise schedule a model was trained with and the timestep spacing its family samples with
/// (DiT's by default; "leading" for Stable Diffusion); stitched models must share both.
/// </summary>
public sealed record ManifestSchedule(
    ScheduleKind Kind = ScheduleKind.Linear,
    int TrainingSteps = NoiseSchedule.DefaultTrainingSteps,
    TimestepSpacing Spacing = TimestepSpacing.Dit);
