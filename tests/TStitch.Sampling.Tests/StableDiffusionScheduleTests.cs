using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

/// <summary>SD's schedule and diffusers' DDIM timestep spacing, against values worked out from diffusers' formulas.</summary>
public class StableDiffusionScheduleTests
{
    [Fact]
    public void Scaled_linear_betas_are_linear_in_their_square_root_from_0_00085_to_0_012()
    {
        var s = NoiseSchedule.ScaledLinear();
        Assert.Equal(1000, s.TrainingSteps);
        Assert.Equal(0.00085, s.Betas[0], 12);
        Assert.Equal(0.012, s.Betas[999], 12);
        double mid = (Math.Sqrt(0.00085) + (Math.Sqrt(0.012) - Math.Sqrt(0.00085)) * 500 / 999);
        Assert.Equal(mid * mid, s.Betas[500], 12);
        // diffusers' alphas_cumprod[0] for SD is 1 - 0.00085.
        Assert.Equal(0.99915, s.AlphasCumprod[0], 12);
        Assert.Equal(ScheduleKind.ScaledLinear, NoiseSchedule.Create(ScheduleKind.ScaledLinear).Kind);
    }

    [Fact]
    public void Leading_spacing_visits_diffusers_timesteps_and_ends_on_alpha_bar_zero()
    {
        var schedule = NoiseSchedule.ScaledLinear();
        var plan = new SamplingPlan(schedule, 50, TimestepSpacing.Leading);
        // diffusers: (arange(50) * 20)[::-1] + 1 = 981, 961, ..., 21, 1.
        Assert.Equal(Enumerable.Range(0, 50).Select(i => (49 - i) * 20 + 1), plan.Timesteps);
        for (int i = 0; i < 49; i++) Assert.Equal(schedule.AlphasCumprod[plan.Timesteps[i + 1]], plan.AlphaBarNext[i]);
        // set_alpha_to_one = false: the last step lands on alphas_cumprod[0], not 1.
        Assert.Equal(schedule.AlphasCumprod[0], plan.AlphaBarNext[49]);
        // 7 steps: ratio 142 -> 853, 711, 569, 427, 285, 143, 1.
        Assert.Equal([853, 711, 569, 427, 285, 143, 1], new SamplingPlan(schedule, 7, TimestepSpacing.Leading).Timesteps);
        // DiT's spacing is unchanged and still ends on 1.
        Assert.Equal(1.0, new SamplingPlan(schedule, 50).AlphaBarNext[49]);
    }

    [Fact]
    public void Leading_spacing_refuses_as_many_steps_as_training_steps()
    {
        var e = Assert.Throws<InvalidRequestException>(() => new SamplingPlan(NoiseSchedule.ScaledLinear(), 1000, TimestepSpacing.Leading));
        Assert.Equal("steps", e.Field);
        Assert.Equal(999, new SamplingPlan(NoiseSchedule.ScaledLinear(), 999, TimestepSpacing.Leading).Timesteps[0]);
    }

    [Fact]
    public void One_ddim_step_is_diffusers_formula()
    {
        // diffusers DDIMScheduler.step, eta 0: x0 = (x - sqrt(1-a) eps) / sqrt(a); x' = sqrt(a') x0 + sqrt(1-a') eps.
        var plan = new SamplingPlan(NoiseSchedule.ScaledLinear(), 4, TimestepSpacing.Leading);
        var sampler = new DdimSampler(plan);
        var state = new SamplerState(3, [0.3f, -1.2f]);
        float[] eps = [0.5f, -0.25f];
        double a = plan.Schedule.AlphasCumprod[1], ap = plan.Schedule.AlphasCumprod[0];
        Assert.Equal(1, plan.Timesteps[3]);
        var expected = state.Latents.Select((x, k) =>
        {
            double x0 = (x - Math.Sqrt(1 - a) * eps[k]) / Math.Sqrt(a);
            return (float)(Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * eps[k]);
        }).ToArray();
        sampler.Step(state, eps, PredictionKind.Epsilon, 2, 0);
        Assert.Equal(expected, state.Latents);
    }
}
