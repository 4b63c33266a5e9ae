using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>The schedule picked for a job, why, and how far the load controller shifted it.</summary>
public sealed record ScheduleChoice(IReadOnlyList<SwitchStage> Stages, string Reason, int Shift, double? PredictedMs);
