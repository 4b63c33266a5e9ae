using TStitch.Sampling;

namespace TStitch.Quality;

/// <summary>
/// One measured schedule of any family: its quality, the wall-clock latency per image it was served
/// at, and each pool's cost per step per image as measured in that run.
/// </summary>
public sealed record ScheduleSweepPoint(SwitchSchedule Schedule, QualityReport Quality, double LatencyMsPerImage,
    IReadOnlyDictionary<string, double> StepMsPerImage);
