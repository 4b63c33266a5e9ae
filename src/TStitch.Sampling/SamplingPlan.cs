namespace TStitch.Sampling;

/// <summary>
/// The respaced timesteps a sampler visits, in sampling order (high noise first). S of the training
/// steps are kept as the family's <see cref="TimestepSpacing"/> says (DiT's even stride by default),
/// and the model is always called with the ORIGINAL timestep index (<see cref="Timesteps"/>).
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

    public TimestepSpacing Spacing { get; }

    public SamplingPlan(NoiseSchedule schedule, int steps, TimestepSpacing spacing = TimestepSpacing.Dit)
    {
        ArgumentNullException.ThrowIfNull(schedule);
        Schedule = schedule;
        Spacing = spacing;
        Steps = TrajectoryLimits.Steps(steps, schedule.TrainingSteps);
        var kept = spacing == TimestepSpacing.Leading ? LeadingTimesteps(schedule.TrainingSteps, steps)
            : KeptTimesteps(schedule.TrainingSteps, steps);
        var ts = new int[steps];
        var ab = new double[steps];
        var abNext = new double[steps];
        for (int i = 0; i < steps; i++)
        {
            ts[i] = kept[steps - 1 - i];
            ab[i] = schedule.AlphasCumprod[ts[i]];
        }
        // diffusers' set_alpha_to_one = false (SD v1): the last step lands on alpha_bar[0], not on 1.
        double final = spacing == TimestepSpacing.Leading ? schedule.AlphasCumprod[0] : 1.0;
        for (int i = 0; i < steps; i++)
            abNext[i] = i + 1 < steps ? ab[i + 1] : final;
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

    /// <summary>
    /// diffusers' "leading" spacing with steps_offset 1: arange(S) * (T / S) + 1 (integer division),
    /// ascending; for SD's T = 1000 and S = 50 that is 1, 21, ..., 981.
    /// </summary>
    private static int[] LeadingTimesteps(int trainingSteps, int steps)
    {
        const int stepsOffset = 1;
        int ratio = trainingSteps / steps;
        // Only S = T overflows (its last timestep would be T); diffusers fails there with an index error.
        if ((steps - 1) * ratio + stepsOffset >= trainingSteps)
            throw new InvalidRequestException("steps",
                $"steps must be below {trainingSteps} with leading timestep spacing (steps_offset 1), got {steps}.");
        var kept = new int[steps];
        for (int i = 0; i < steps; i++) kept[i] = i * ratio + stepsOffset;
        return kept;
    }
}
