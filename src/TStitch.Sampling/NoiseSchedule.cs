namespace TStitch.Sampling;

/// <summary>
/// Training-time beta schedules. <see cref="ScaledLinear"/> is Stable Diffusion's ("scaled_linear" in
/// diffusers): betas linear in sqrt from 0.00085 to 0.012.
/// </summary>
public enum ScheduleKind { Linear, Cosine, ScaledLinear }

/// <summary>
/// The training-time diffusion schedule: betas and cumulative alphas over <see cref="TrainingSteps"/>.
/// Maths in double, as DiT's gaussian_diffusion does, so respacing and sampler coefficients do not
/// accumulate float error.
/// </summary>
public sealed class NoiseSchedule
{
    public const int DefaultTrainingSteps = 1000;

    public ScheduleKind Kind { get; }
    public int TrainingSteps { get; }
    public IReadOnlyList<double> Betas { get; }
    /// <summary>alpha_bar(t) = prod_{s&lt;=t} (1 - beta_s), for t = 0 .. TrainingSteps-1.</summary>
    public IReadOnlyList<double> AlphasCumprod { get; }

    private NoiseSchedule(ScheduleKind kind, double[] betas)
    {
        Kind = kind;
        TrainingSteps = betas.Length;
        Betas = betas;
        var abar = new double[betas.Length];
        double prod = 1.0;
        for (int t = 0; t < betas.Length; t++) { prod *= 1.0 - betas[t]; abar[t] = prod; }
        AlphasCumprod = abar;
    }

    /// <summary>DiT/ADM default: betas linear from 1e-4 to 0.02 over the training steps (not rescaled for other step counts).</summary>
    public static NoiseSchedule Linear(int trainingSteps = DefaultTrainingSteps, double betaStart = 1e-4, double betaEnd = 0.02)
    {
        ValidateSteps(trainingSteps);
        if (!(betaStart > 0 && betaEnd < 1 && betaStart <= betaEnd))
            throw new ArgumentOutOfRangeException(nameof(betaStart),
                $"Linear schedule needs 0 < betaStart ({betaStart}) <= betaEnd ({betaEnd}) < 1.");
        var betas = new double[trainingSteps];
        for (int t = 0; t < trainingSteps; t++)
            betas[t] = trainingSteps == 1 ? betaStart : betaStart + (betaEnd - betaStart) * t / (trainingSteps - 1);
        return new NoiseSchedule(ScheduleKind.Linear, betas);
    }

    /// <summary>Nichol &amp; Dhariwal's cosine schedule (betas clipped at 0.999).</summary>
    public static NoiseSchedule Cosine(int trainingSteps = DefaultTrainingSteps)
    {
        ValidateSteps(trainingSteps);
        static double F(double u) => Math.Pow(Math.Cos((u + 0.008) / 1.008 * Math.PI / 2), 2);
        var betas = new double[trainingSteps];
        for (int t = 0; t < trainingSteps; t++)
            betas[t] = Math.Min(1 - F((t + 1.0) / trainingSteps) / F((double)t / trainingSteps), 0.999);
        return new NoiseSchedule(ScheduleKind.Cosine, betas);
    }

    /// <summary>
    /// Stable Diffusion's schedule: betas = linspace(sqrt(0.00085), sqrt(0.012), T)^2, as diffusers'
    /// "scaled_linear" and the SD v1 scheduler configs have it.
    /// </summary>
    public static NoiseSchedule ScaledLinear(int trainingSteps = DefaultTrainingSteps, double betaStart = 0.00085, double betaEnd = 0.012)
    {
        ValidateSteps(trainingSteps);
        double lo = Math.Sqrt(betaStart), hi = Math.Sqrt(betaEnd);
        var betas = new double[trainingSteps];
        for (int t = 0; t < trainingSteps; t++)
        {
            double r = trainingSteps == 1 ? lo : lo + (hi - lo) * t / (trainingSteps - 1);
            betas[t] = r * r;
        }
        return new NoiseSchedule(ScheduleKind.ScaledLinear, betas);
    }

    public static NoiseSchedule Create(ScheduleKind kind, int trainingSteps = DefaultTrainingSteps) => kind switch
    {
        ScheduleKind.Cosine => Cosine(trainingSteps),
        ScheduleKind.ScaledLinear => ScaledLinear(trainingSteps),
        _ => Linear(trainingSteps),
    };

    private static void ValidateSteps(int trainingSteps)
    {
        if (trainingSteps < 1)
            throw new ArgumentOutOfRangeException(nameof(trainingSteps), $"trainingSteps must be >= 1, got {trainingSteps}.");
    }
}
