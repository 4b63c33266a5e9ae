using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>The noise schedule a model was trained with; stitched models must share it.</summary>
public sealed record ManifestSchedule(ScheduleKind Kind = ScheduleKind.Linear, int TrainingSteps = NoiseSchedule.DefaultTrainingSteps);
