namespace TStitch.Sampling;

/// <summary>
/// What a user asks for: one image per class label, or, for a text family, one per prompt embedding
/// (<see cref="Prompts"/>, with <see cref="ClassLabels"/> empty), sampled with a stitched schedule.
/// </summary>
public sealed record TrajectoryRequest(
    IReadOnlyList<int> ClassLabels,
    int Steps,
    SamplerKind Sampler,
    SwitchSchedule Schedule,
    float GuidanceScale,
    ulong Seed,
    double Eta = 0)
{
    /// <summary>The text conditioning of a text-family request; null for class labels.</summary>
    public PromptEmbeddings? Prompts { get; init; }

    /// <summary>Images in the batch: one per prompt or per class label.</summary>
    public int Batch => Prompts?.Batch ?? ClassLabels.Count;

    /// <summary>Checks the parameters that need no model (the rules live in <see cref="TrajectoryLimits"/>).</summary>
    public TrajectoryRequest Validate()
    {
        if (Prompts is not null)
        {
            if (ClassLabels is { Count: > 0 })
                throw new InvalidRequestException("class_labels", "Give prompts or class_labels, not both.");
            Prompts.Validate();
        }
        else if (ClassLabels is null || ClassLabels.Count == 0)
            throw new InvalidRequestException("class_labels", "class_labels is empty: ask for at least one image.");
        TrajectoryLimits.Steps(Steps);
        TrajectoryLimits.Guidance(GuidanceScale);
        TrajectoryLimits.Eta(Eta);
        ArgumentNullException.ThrowIfNull(Schedule, "schedule");
        return this;
    }
}
