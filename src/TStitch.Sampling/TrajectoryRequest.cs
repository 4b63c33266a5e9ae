namespace TStitch.Sampling;

/// <summary>What a user asks for: one image per class label, sampled with a stitched schedule.</summary>
public sealed record TrajectoryRequest(
    IReadOnlyList<int> ClassLabels,
    int Steps,
    SamplerKind Sampler,
    SwitchSchedule Schedule,
    float GuidanceScale,
    ulong Seed,
    double Eta = 0)
{
    /// <summary>Checks the parameters that need no model (the rules live in <see cref="TrajectoryLimits"/>).</summary>
    public TrajectoryRequest Validate()
    {
        if (ClassLabels is null || ClassLabels.Count == 0)
            throw new InvalidRequestException("class_labels", "class_labels is empty: ask for at least one image.");
        TrajectoryLimits.Steps(Steps);
        TrajectoryLimits.Guidance(GuidanceScale);
        TrajectoryLimits.Eta(Eta);
        ArgumentNullException.ThrowIfNull(Schedule, "schedule");
        return this;
    }
}
