using TStitch.Sampling;

namespace TStitch.Contracts;

/// <summary>The one mapping between a model's description on the wire (<see cref="ModelInfo"/>) and in the maths (<see cref="DenoiserInfo"/>).</summary>
public static class ModelInfoMessages
{
    public static ModelInfo ToMessage(DenoiserInfo info, bool learnedSigma, double costMsPerSample, int maxSamplesPerCall)
    {
        var m = new ModelInfo
        {
            Name = info.Name, Prediction = Name(info.Prediction), LearnedSigma = learnedSigma,
            NumClasses = info.NumClasses, NullClassId = info.NullClassId, Schedule = Name(info.Schedule),
            TrainingSteps = info.TrainingSteps, RelativeCost = info.RelativeCost, CostMsPerSample = costMsPerSample,
            MaxSamplesPerCall = maxSamplesPerCall,
        };
        m.LatentShape.AddRange([info.Channels, info.Height, info.Width]);
        return m;
    }

    public static DenoiserInfo ToInfo(this ModelInfo m)
    {
        if (m.LatentShape.Count != 3)
            throw new InvalidDataException($"Model '{m.Name}' reports latent shape [{string.Join(", ",
                m.LatentShape)}]; [C, H, W] expected.");
        return new DenoiserInfo(m.Name, m.LatentShape[0], m.LatentShape[1], m.LatentShape[2],
            Enum.Parse<PredictionKind>(m.Prediction, ignoreCase: true), m.NumClasses, m.NullClassId,
            ParseSchedule(m.Schedule, "schedule"), m.TrainingSteps, m.RelativeCost);
    }

    public static string Name(ScheduleKind kind) => kind.ToString().ToLowerInvariant();

    public static ScheduleKind ParseSchedule(string name, string field) =>
        Enum.TryParse<ScheduleKind>(name, ignoreCase: true, out var kind) && Enum.IsDefined(kind)
            ? kind
            : throw new InvalidRequestException(field, $"{field} '{name}' is not a noise schedule; use linear or cosine.");

    private static string Name(PredictionKind kind) => kind == PredictionKind.Epsilon ? "epsilon" : kind.ToString().ToLowerInvariant();
}
