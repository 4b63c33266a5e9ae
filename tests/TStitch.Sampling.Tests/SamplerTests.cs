using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

public class SamplerTests
{
    private static readonly NoiseSchedule Tiny = NoiseSchedule.Linear(10, 0.1, 0.5);

    [Fact]
    public void Linear_schedule_matches_hand_computed_alpha_bar()
    {
        var s = NoiseSchedule.Linear(3, 0.1, 0.3);
        Assert.Equal(0.9, s.AlphasCumprod[0], 12);
        Assert.Equal(0.9 * 0.8, s.AlphasCumprod[1], 12);
        Assert.Equal(0.9 * 0.8 * 0.7, s.AlphasCumprod[2], 12);
        var dit = NoiseSchedule.Linear();
        Assert.Equal(1e-4, dit.Betas[0], 12);
        Assert.Equal(0.02, dit.Betas[999], 12);
    }

    [Fact]
    public void Respacing_keeps_dit_timesteps_and_ends_at_alpha_bar_one()
    {
        var plan = new SamplingPlan(NoiseSchedule.Linear(), 50);
        Assert.Equal(999, plan.Timesteps[0]);
        Assert.Equal(0, plan.Timesteps[^1]);
        Assert.Equal(979, plan.Timesteps[1]); // round(48 * 999/49) = round(978.6)
        Assert.Equal(1.0, plan.AlphaBarNext[^1]);
        Assert.Equal(plan.AlphaBar[1], plan.AlphaBarNext[0]);
        Assert.Equal(new[] { 9, 0 }, new SamplingPlan(Tiny, 2).Timesteps);
    }

    [Fact]
    public void Ddim_step_matches_hand_computed_update()
    {
        var plan = new SamplingPlan(Tiny, 2);
        double a = Tiny.AlphasCumprod[9], ap = Tiny.AlphasCumprod[0];
        var state = new SamplerState(0, [0.7f]);
        new DdimSampler(plan).Step(state, [0.3f], PredictionKind.Epsilon, 1, 1);
        double x0 = (0.7 - Math.Sqrt(1 - a) * 0.3) / Math.Sqrt(a);
        Assert.Equal(Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * 0.3, state.Latents[0], 5);
        Assert.Equal(1, state.Step);
        // Last step lands on alpha_bar = 1: the output is the x0 prediction.
        new DdimSampler(plan).Step(state, [0.1f], PredictionKind.Epsilon, 1, 1);
        double x1 = Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap) * 0.3;
        Assert.Equal((x1 - Math.Sqrt(1 - ap) * 0.1) / Math.Sqrt(ap), state.Latents[0], 1e-5); // float32 state
    }

    [Fact]
    public void Ddim_with_eta_adds_keyed_noise()
    {
        var plan = new SamplingPlan(Tiny, 2);
        double a = Tiny.AlphasCumprod[9], ap = Tiny.AlphasCumprod[0];
        var state = new SamplerState(0, [0.7f]);
        new DdimSampler(plan, eta: 1).Step(state, [0.3f], PredictionKind.Epsilon, 1, seed: 5);
        double sigma = Math.Sqrt((1 - ap) / (1 - a)) * Math.Sqrt(1 - a / ap);
        double x0 = (0.7 - Math.Sqrt(1 - a) * 0.3) / Math.Sqrt(a);
        var z = new float[1];
        StepNoise.Fill(z, 5, 0, 0);
        Assert.Equal(Math.Sqrt(ap) * x0 + Math.Sqrt(1 - ap - sigma * sigma) * 0.3 + sigma * z[0], state.Latents[0], 5);
    }

    [Fact]
    public void Ddpm_step_matches_hand_computed_posterior()
    {
        var plan = new SamplingPlan(Tiny, 2);
        double a = Tiny.AlphasCumprod[9], ap = Tiny.AlphasCumprod[0];
        var state = new SamplerState(0, [0.7f]);
        new DdpmSampler(plan).Step(state, [0.3f], PredictionKind.Epsilon, 1, seed: 3);
        double beta = 1 - a / ap;
        double x0 = (0.7 - Math.Sqrt(1 - a) * 0.3) / Math.Sqrt(a);
        double mean = beta * Math.Sqrt(ap) / (1 - a) * x0 + (1 - ap) * Math.Sqrt(1 - beta) / (1 - a) * 0.7;
        var z = new float[1];
        StepNoise.Fill(z, 3, 0, 0);
        Assert.Equal(mean + Math.Sqrt(beta * (1 - ap) / (1 - a)) * z[0], state.Latents[0], 5);
        // The final step adds no noise: it is the posterior mean with alpha_bar_prev = 1, i.e. x0.
        var last = new SamplerState(1, [0.4f]);
        new DdpmSampler(plan).Step(last, [0.2f], PredictionKind.Epsilon, 1, seed: 3);
        Assert.Equal((0.4 - Math.Sqrt(1 - ap) * 0.2) / Math.Sqrt(ap), last.Latents[0], 5);
    }

    [Fact]
    public void Dpm_solver_first_step_equals_ddim_and_second_uses_history()
    {
        var plan = new SamplingPlan(NoiseSchedule.Linear(), 10);
        var ddim = new SamplerState(0, [0.5f, -1.2f]);
        var dpm = new SamplerState(0, [0.5f, -1.2f]);
        new DdimSampler(plan).Step(ddim, [0.2f, -0.4f], PredictionKind.Epsilon, 2, 1);
        var solver = new DpmSolverPP2MSampler(plan);
        solver.Step(dpm, [0.2f, -0.4f], PredictionKind.Epsilon, 2, 1);
        Assert.Equal(ddim.Latents[0], dpm.Latents[0], 4);
        Assert.Equal(ddim.Latents[1], dpm.Latents[1], 4);
        Assert.NotNull(dpm.PreviousX0);
        var firstOrder = new SamplerState(1, (float[])dpm.Latents.Clone());
        solver.Step(firstOrder, [0.1f, 0.1f], PredictionKind.Epsilon, 2, 1);
        solver.Step(dpm, [0.1f, 0.1f], PredictionKind.Epsilon, 2, 1);
        Assert.NotEqual(firstOrder.Latents[0], dpm.Latents[0]);
    }

    [Theory]
    [InlineData(PredictionKind.Epsilon)]
    [InlineData(PredictionKind.V)]
    [InlineData(PredictionKind.X0)]
    public void Prediction_kinds_agree_on_the_same_eps(PredictionKind kind)
    {
        double a = 0.3, eps = 0.8, x0 = -0.5;
        float xt = (float)(Math.Sqrt(a) * x0 + Math.Sqrt(1 - a) * eps);
        float output = (float)(kind switch
        {
            PredictionKind.Epsilon => eps,
            PredictionKind.X0 => x0,
            _ => Math.Sqrt(a) * eps - Math.Sqrt(1 - a) * x0,
        });
        new PredictionConverter(kind, a).ToEpsilonAndX0(xt, output, out double e, out double z);
        Assert.Equal(eps, e, 5);
        Assert.Equal(x0, z, 5);
    }

    /// <summary>
    /// The updates run eight values at a time with a scalar loop for the rest: the same (x_t, output,
    /// previous x0) in a vector lane and in the tail must give the same bits (no fused multiply-add, the
    /// same rounding), or a batch's results would depend on where a sample falls in it.
    /// </summary>
    [Theory]
    [InlineData(SamplerKind.Ddim, PredictionKind.Epsilon)]
    [InlineData(SamplerKind.Ddim, PredictionKind.V)]
    [InlineData(SamplerKind.Ddim, PredictionKind.X0)]
    [InlineData(SamplerKind.Ddpm, PredictionKind.Epsilon)]
    [InlineData(SamplerKind.DpmSolverPP2M, PredictionKind.V)]
    [InlineData(SamplerKind.DpmSolverPP2M, PredictionKind.Epsilon)]
    public void Vector_lanes_and_the_scalar_tail_give_the_same_bits(SamplerKind kind, PredictionKind prediction)
    {
        const int n = 19; // two vectors of 8, then a tail of 3 that repeats the first 3 values
        var plan = new SamplingPlan(NoiseSchedule.Linear(), 10);
        var sampler = Sampler.Create(kind, plan);
        static float[] Repeating(int seed)
        {
            var v = new float[n];
            StepNoise.Fill(v, (ulong)seed, 0, 0);
            for (int i = 16; i < n; i++) v[i] = v[i - 16];
            return v;
        }
        // Steps 1-2 of 10 use the previous x0 (DPM-Solver++); DDPM's last step adds no noise, so the
        // tail sees the same inputs as the lanes it repeats.
        int from = kind == SamplerKind.Ddpm ? plan.Steps - 1 : 1;
        var state = new SamplerState(from, Repeating(1), Repeating(2));
        for (int step = from; step < Math.Min(plan.Steps, from + 2); step++)
        {
            sampler.Step(state, Repeating(10 + step), prediction, n, 7);
            for (int i = 16; i < n; i++)
            {
                Assert.Equal(BitConverter.SingleToInt32Bits(state.Latents[i - 16]), BitConverter.SingleToInt32Bits(state.Latents[i]));
                if (state.PreviousX0 is { } p)
                    Assert.Equal(BitConverter.SingleToInt32Bits(p[i - 16]), BitConverter.SingleToInt32Bits(p[i]));
            }
        }
    }

    [Fact]
    public void Learned_sigma_keeps_the_first_half_of_each_sample()
    {
        var cropped = Prediction.DropLearnedSigma([1, 2, 9, 9, 3, 4, 9, 9], batch: 2, sampleSize: 2);
        Assert.Equal(new float[] { 1, 2, 3, 4 }, cropped);
    }

    [Fact]
    public void Step_noise_is_keyed_and_standard_normal()
    {
        var a = new float[20000];
        var b = new float[20000];
        StepNoise.Fill(a, 1, 0, 3);
        StepNoise.Fill(b, 1, 0, 3);
        Assert.Equal(a, b);
        StepNoise.Fill(b, 1, 1, 3);
        Assert.NotEqual(a, b);
        StepNoise.Fill(b, 1, 0, 4);
        Assert.NotEqual(a, b);
        double mean = a.Average(v => (double)v), variance = a.Average(v => (v - mean) * (v - mean));
        Assert.InRange(mean, -0.03, 0.03);
        Assert.InRange(variance, 0.96, 1.04);
    }

    [Theory]
    [InlineData(64, 3072, 2)] // x_T at batch 64 over two cores
    [InlineData(7, 3000, 3)] // an odd batch over three
    [InlineData(7, 300, 7)] // a sample a part
    [InlineData(3, 48, 8)] // more parts than samples
    [InlineData(3, 48, 1)] // one thread
    public void A_batch_draw_gives_each_sample_its_own_keyed_noise(int batch, int sampleSize, int parts)
    {
        var drawn = new float[batch * sampleSize];
        StepNoise.FillSamples(drawn, sampleSize, 11, StepNoise.InitialStep, parts);
        var expected = new float[sampleSize];
        for (int b = 0; b < batch; b++)
        {
            StepNoise.Fill(expected, 11, b, StepNoise.InitialStep);
            Assert.True(expected.AsSpan().SequenceEqual(drawn.AsSpan(b * sampleSize, sampleSize)), $"sample {b} differs");
        }
    }

    [Fact]
    public void Guidance_mixes_conditional_and_unconditional()
    {
        float[] both = [1f, 2f, 0f, 1f]; // cond = [1, 2], uncond = [0, 1]
        Assert.Equal(new[] { 0f, 1f }, Guidance.Combine(both, 0f));
        Assert.Equal(new[] { 1f, 2f }, Guidance.Combine(both, 1f));
        Assert.Equal(new[] { 4f, 5f }, Guidance.Combine(both, 4f));
        var doubled = Guidance.WithUnconditionalHalf(new DenoiseInput([1, 2], [5], [3], 4f), nullClassId: 10);
        Assert.Equal(new[] { 3, 10 }, doubled.ClassLabels);
        Assert.Equal(new[] { 5, 5 }, doubled.Timesteps);
        Assert.Equal(new float[] { 1, 2, 1, 2 }, doubled.Latents);
    }

    [Fact]
    public void The_start_draws_x_T_when_first_read_and_draws_the_keyed_noise_of_each_sample()
    {
        var start = new DdimSampler(new SamplingPlan(Tiny, 5)).Start(batch: 2, sampleSize: 6, seed: 11);
        Assert.True(start.IsUndrawnStart);
        Assert.Equal(0, start.Step);
        var second = new float[6];
        StepNoise.Fill(second, 11, 1, StepNoise.InitialStep);
        Assert.Equal(second, start.Latents[6..]);
        Assert.False(start.IsUndrawnStart);
        Assert.Same(start.Latents, start.Latents); // drawn once
    }

    [Fact]
    public void Finite_check_finds_the_first_nan_or_infinity_and_tells_an_overflowing_sum_apart()
    {
        var values = new float[1000];
        Assert.Equal(-1, FiniteValues.FirstNonFinite(values));
        values[700] = float.PositiveInfinity;
        values[900] = float.NaN;
        Assert.Equal(700, FiniteValues.FirstNonFinite(values));
        Assert.Equal(-1, FiniteValues.FirstNonFinite([float.MaxValue, float.MaxValue, -1f])); // the sum overflows; every value is finite
        var ex = Assert.Throws<InvalidRequestException>(() => FiniteValues.Require(values, "latents", "latents"));
        Assert.Equal("latents", ex.Field);
        Assert.Contains("latents[700] is", ex.Message);
    }
}
