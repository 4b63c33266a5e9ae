namespace TStitch.Sampling;

/// <summary>
/// What a sampler must know about a denoiser: its latent shape, parametrisation, conditioning (classes,
/// or a text embedding of shape <see cref="Text"/>), schedule and timestep spacing.
/// </summary>
public sealed record DenoiserInfo(
    string Name,
    int Channels,
    int Height,
    int Width,
    PredictionKind Prediction,
    int NumClasses,
    int NullClassId,
    ScheduleKind Schedule,
    int TrainingSteps,
    double RelativeCost,
    TimestepSpacing Spacing = TimestepSpacing.Dit,
    EmbeddingShape? Text = null)
{
    public int SampleSize => Channels * Height * Width;

    /// <summary>Conditioned on a text embedding (prompts) rather than on class labels.</summary>
    public bool ConditionedOnText => Text is not null;
}
