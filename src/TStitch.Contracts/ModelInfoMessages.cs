using TStitch.Sampling;

namespace TStitch.Contracts;

/// <summary>
/// The one mapping between a model's description on the wire (<see cref="ModelInfo"/>) and in the maths (<see cref="DenoiserInfo"/>).
/// </summary>
public static class ModelInfoMessages
{
    public const string ClassLabelConditioning = "class-label";
    public const string TextConditioning = "text-embedding";

    public static ModelInfo ToMessage(DenoiserInfo info, bool learnedSigma, double costMsPerSample, int maxSamplesPerCall)
    {
        var m = new ModelInfo
        {
            Name = info.Name, Prediction = Name(info.Prediction), LearnedSigma = learnedSigma,
            NumClasses = info.NumClasses, NullClassId = info.NullClassId, Schedule = Name(info.Schedule),
            TrainingSteps = info.TrainingSteps, RelativeCost = info.RelativeCost, CostMsPerSample = costMsPerSample,
            MaxSamplesPerCall = maxSamplesPerCall, TimestepSpacing = Name(info.Spacing),
            Conditioning = info.Text is null ? ClassLabelConditioning : TextConditioning,
        };
        m.LatentShape.AddRange([info.Channels, info.Height, info.Width]);
        if (info.Text is { } text) m.ContextShape.AddRange([text.Tokens, text.Width]);
        return m;
    }

    public static DenoiserInfo ToInfo(this ModelInfo m)
    {
        if (m.LatentShape.Count != 3)
            throw new InvalidDataException($"Model '{m.Name}' reports latent shape [{string.Join(", ",
                m.LatentShape)}]; [C, H, W] expected.");
        EmbeddingShape? text = null;
        if (m.Conditioning == TextConditioning)
            text = m.ContextShape.Count == 2
                ? new EmbeddingShape(m.ContextShape[0], m.ContextShape[1])
                : throw new InvalidDataException($"Model '{m.Name}' is conditioned on text but reports context shape [{string.Join(", ",
                    m.ContextShape)}]; [tokens, width] expected.");
        return new DenoiserInfo(m.Name, m.LatentShape[0], m.LatentShape[1], m.LatentShape[2],
            Enum.Parse<PredictionKind>(m.Prediction, ignoreCase: true), m.NumClasses, m.NullClassId,
            ParseSchedule(m.Schedule, "schedule"), m.TrainingSteps, m.RelativeCost,
            ParseSpacing(m.TimestepSpacing, "timestep_spacing"), text);
    }

    /// <summary>Wire names are the manifests' (kebab case): linear, cosine, scaled-linear.</summary>
    public static string Name(ScheduleKind kind) => kind switch
    {
        ScheduleKind.ScaledLinear => "scaled-linear",
        _ => kind.ToString().ToLowerInvariant(),
    };

    public static ScheduleKind ParseSchedule(string name, string field) =>
        Enum.TryParse<ScheduleKind>(name.Replace("-", ""), ignoreCase: true, out var kind) && Enum.IsDefined(kind)
            ? kind
            : throw new InvalidRequestException(field, $"{field} '{name}' is not a noise schedule; use linear, cosine or scaled-linear.");

    public static string Name(TimestepSpacing spacing) => spacing.ToString().ToLowerInvariant();

    /// <summary>Empty means DiT's spacing, what every peer sent before the field existed.</summary>
    public static TimestepSpacing ParseSpacing(string name, string field) =>
        string.IsNullOrEmpty(name) ? TimestepSpacing.Dit
        : Enum.TryParse<TimestepSpacing>(name, ignoreCase: true, out var spacing) && Enum.IsDefined(spacing) ? spacing
        : throw new InvalidRequestException(field, $"{field} '{name}' is not a timestep spacing; use dit or leading.");

    private static string Name(PredictionKind kind) => kind == PredictionKind.Epsilon ? "epsilon" : kind.ToString().ToLowerInvariant();
}
