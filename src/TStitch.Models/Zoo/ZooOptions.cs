using TStitch.Sampling;

namespace TStitch.Models.Zoo;

/// <summary>How the zoo is made. Everything derives from <see cref="Seed"/>, so a rebuild is identical.</summary>
public sealed record ZooOptions
{
    public int Seed { get; init; } = 1;
    public int TrainCount { get; init; } = 5000;
    public int HeldOutCount { get; init; } = 2000;
    public int KMeansIterations { get; init; } = 15;
    public ScheduleKind Schedule { get; init; } = ScheduleKind.Linear;
    public IReadOnlyList<ZooModelSpec> Models { get; init; } =
        [new(ModelZoo.Small, 2), new(ModelZoo.Base, 10), new(ModelZoo.Large, 60)];
    /// <summary>Batch at which per-sample cost is measured for the manifests.</summary>
    public int CostBatch { get; init; } = 64;

    public LabelledImages Train() => ShapesDataset.Generate(TrainCount, Seed);
    public LabelledImages HeldOut() => ShapesDataset.Generate(HeldOutCount, Seed + 1);
}
