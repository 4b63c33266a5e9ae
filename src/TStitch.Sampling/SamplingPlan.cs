namespace TStitch.Sampling;

/// <summary>
/// The respaced timesteps a sampler visits, in sampling order (high noise first).
/// As in DiT's respace.py, S of the training steps are kept, evenly strided and rounded, and the
/// model is always called with the ORIGINAL timestep index (<see cref="Timesteps"/>).
/// </summary>
public sealed class SamplingPlan
{
    public NoiseSchedule Schedule { get; }
    public int Steps { get; }
    /// <summary>Original training timestep of sampling step i (descending).</summary>
    public IReadOnlyList<int> Timesteps { get; }
    /// <summary>alpha_bar at sampling step i.</summary>
    public IReadOnlyList<double> AlphaBar { get; }
    /// <summary>alpha_bar the step lands on: the next kept timestep's, and 1 after the last step.</summary>
    public IReadOnlyList<double> AlphaBarNext { get; }

    public SamplingPlan(NoiseSchedule schedule, int steps)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Schedule = schedule;
        Steps = TrajectoryLimits.Steps(steps, schedule.TrainingSteps);
        var kept = KeptTimesteps(schedule.TrainingSteps, steps);
        var ts = new int[steps];
        var ab = new double[steps];
        var abNext = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            ts[i] = kept[steps - 1 - i];
            ab[i] = schedule.AlphasCumprod[ts[i]];
        }
        for (int i = 0; i < steps; i++)
            abNext[i] = i + 1 < steps ? ab[i + 1] : 1.0;
        Timesteps = ts;
        AlphaBar = ab;
        AlphaBarNext = abNext;
    }

    /// <summary>
    /// DiT's space_timesteps(T, [S]): round(i * (T-1)/(S-1)), ascending, banker's rounding as Python's
    /// round. One step is the exception: DiT keeps t = 0 there, we keep T-1 so a 1-step sample starts from noise.
    /// </summary>
    private static int[] KeptTimesteps(int trainingSteps, int steps)
    {
        if (steps == 1) return [trainingSteps - 1];
        double stride = (trainingSteps - 1) / (double)(steps - 1);
        var kept = new int[steps];
        double cur = 0;
        for (int i = 0; i < steps; i++) { kept[i] = (int)Math.Round(cur, MidpointRounding.ToEven); cur += stride; }
        return kept;
    }
}
