namespace TStitch.Sampling;

/// <summary>
/// The rules for trajectory parameters, each in one place. Every boundary that accepts them (the
/// orchestrator's request mapping, a replica's stage run, the sampler constructors) calls these, so a
/// limit and its message change here only.
/// </summary>
public static class TrajectoryLimits
{
    public const int MaxSteps = 1000;
    /// <summary>
    /// Classifier-free guidance beyond this only amplifies the model's error: DiT and Stable Diffusion use
    /// 1.5-15. A bound also keeps outputs finite (1e30 overflows float32 at the first guided step).
    /// </summary>
    public const float MaxGuidance = 100f;

    public static int Steps(int steps, int trainingSteps = MaxSteps)
    {
        int max = Math.Min(MaxSteps, trainingSteps);
        if (steps < 1 || steps > max)
            throw new InvalidRequestException("steps", $"steps must be between 1 and {max}, got {steps}.");
        return steps;
    }

    public static float Guidance(float scale)
    {
        if (!float.IsFinite(scale) || scale < 0 || scale > MaxGuidance)
            throw new InvalidRequestException("guidance_scale",
                $"guidance_scale must be a number in [0, {MaxGuidance}] (1 = plain conditional, 0 = unconditional, > 1 = CFG), " +
                    $"got {scale}.");
        return scale;
    }

    public static double Eta(double eta)
    {
        if (double.IsNaN(eta) || eta < 0 || eta > 1)
            throw new InvalidRequestException("eta", $"eta must be in [0, 1], got {eta}.");
        return eta;
    }

    /// <summary>A share of the steps (a stage's fraction, small_fraction).</summary>
    public static double Fraction(double fraction, string field)
    {
        if (double.IsNaN(fraction) || fraction < 0 || fraction > 1)
            throw new InvalidRequestException(field, $"{field} must be in [0, 1], got {fraction}.");
        return fraction;
    }

    public static void ClassLabels(IReadOnlyList<int> labels, int numClasses)
    {
        if (labels is null || labels.Count == 0)
            throw new InvalidRequestException("class_labels", "class_labels is empty: ask for at least one image.");
        for (int b = 0; b < labels.Count; b++)
            if (labels[b] < 0 || labels[b] >= numClasses)
                throw new InvalidRequestException("class_labels",
                    $"class_labels[{b}] = {labels[b]} is out of range: the models have classes 0..{numClasses - 1}.");
    }
}
