namespace TStitch.Sampling;

/// <summary>What a sampler must know about a denoiser: its latent shape, parametrisation, classes, schedule.</summary>
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
    double RelativeCost)
{
    public int SampleSize => Channels * Height * Width;
}
