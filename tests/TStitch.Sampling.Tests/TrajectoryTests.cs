using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

public class TrajectoryTests
{
    private static Dictionary<string, IDenoiser> Models(FakeDenoiser? small = null, FakeDenoiser? large = null) => new()
    {
        ["small"] = small ?? new FakeDenoiser("small", scale: 0.5),
        ["large"] = large ?? new FakeDenoiser("large"),
    };

    private static TrajectoryRequest Request(SamplerKind sampler = SamplerKind.Ddim, double r = 0.4, int steps = 20,
        ulong seed = 9, float guidance = 1f) =>
        new([1, 4, 7], steps, sampler, SwitchSchedule.SmallThenLarge(r, "small", "large"), guidance, seed,
            Eta: sampler == SamplerKind.Ddim ? 0.5 : 0);

    private static async Task<float[]> Run(TrajectoryRequest request, Dictionary<string, IDenoiser>? models = null)
    {
        var t = new Trajectory(request, models ?? Models());
        return (await t.RunAsync(t.Start())).Latents;
    }

    [Theory]
    [InlineData(SamplerKind.Ddim)]
    [InlineData(SamplerKind.Ddpm)]
    [InlineData(SamplerKind.DpmSolverPP2M)]
    public async Task Same_seed_gives_identical_bytes_and_other_seeds_differ(SamplerKind sampler)
    {
        var a = await Run(Request(sampler));
        var b = await Run(Request(sampler));
        Assert.Equal(a, b);
        Assert.NotEqual(a, await Run(Request(sampler, seed: 10)));
        Assert.All(a, v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(SamplerKind.Ddim, 1)]
    [InlineData(SamplerKind.Ddpm, 8)]
    [InlineData(SamplerKind.DpmSolverPP2M, 13)]
    [InlineData(SamplerKind.DpmSolverPP2M, 19)]
    public async Task Resuming_from_a_checkpoint_is_bit_identical(SamplerKind sampler, int stopAfter)
    {
        var request = Request(sampler);
        var uninterrupted = await Run(request);

        var first = new Trajectory(request, Models());
        var state = first.Start();
        SamplerState? checkpoint = null;
        try
        {
            using var cts = new CancellationTokenSource();
            await first.RunAsync(state, (step, _) =>
            {
                if (step.Step == stopAfter - 1) { checkpoint = step.State.Clone(); cts.Cancel(); }
                return ValueTask.CompletedTask;
            }, cts.Token);
        }
        catch (OperationCanceledException) { }
        Assert.NotNull(checkpoint);
        Assert.Equal(stopAfter, checkpoint!.Step);

        // A different process would rebuild everything from the request and the stored state.
        var resumed = new Trajectory(request, Models());
        var restored = new SamplerState(checkpoint.Step, (float[])checkpoint.Latents.Clone(), (float[]?)checkpoint.PreviousX0?.Clone());
        Assert.Equal(uninterrupted, (await resumed.RunAsync(restored)).Latents);
    }

    [Fact]
    public async Task The_switch_schedule_decides_which_model_runs_each_step()
    {
        var small = new FakeDenoiser("small", scale: 0.5);
        var large = new FakeDenoiser("large");
        var t = new Trajectory(Request(r: 0.4, steps: 20), Models(small, large));
        var used = new List<string>();
        await t.RunAsync(t.Start(), (s, _) => { used.Add(s.ModelId); return ValueTask.CompletedTask; });
        Assert.Equal(Enumerable.Repeat("small", 8).Concat(Enumerable.Repeat("large", 12)), used);
        Assert.Equal(8, small.Calls);
        Assert.Equal(12, large.Calls);
    }

    [Fact]
    public async Task Fraction_zero_and_one_equal_single_model_runs()
    {
        var largeOnly = await Run(Request(r: 0) with { Schedule = new SwitchSchedule([new("large", 1)]) });
        Assert.Equal(largeOnly, await Run(Request(r: 0)));
        var smallOnly = await Run(Request(r: 0) with { Schedule = new SwitchSchedule([new("small", 1)]) });
        Assert.Equal(smallOnly, await Run(Request(r: 1)));
        Assert.NotEqual(largeOnly, smallOnly);
    }

    [Theory]
    [InlineData(0, "steps")]
    [InlineData(1001, "1001")]
    public void Steps_out_of_range_are_rejected(int steps, string expected)
    {
        var ex = Assert.ThrowsAny<ArgumentException>(() => new Trajectory(Request(steps: steps), Models()));
        Assert.Contains(expected, ex.Message);
    }

    [Fact]
    public void Bad_requests_name_the_bad_field()
    {
        Assert.Contains("guidance_scale", Assert.ThrowsAny<ArgumentException>(() =>
            new Trajectory(Request(guidance: -1), Models())).Message);
        Assert.Contains("'medium'", Assert.ThrowsAny<ArgumentException>(() =>
            new Trajectory(Request() with { Schedule = SwitchSchedule.SmallThenLarge(0.5, "medium", "large") }, Models())).Message);
        Assert.Contains("class_labels is empty", Assert.ThrowsAny<ArgumentException>(() =>
            new Trajectory(Request() with { ClassLabels = [] }, Models())).Message);
        Assert.Contains("class_labels[1] = 12", Assert.ThrowsAny<ArgumentException>(() =>
            new Trajectory(Request() with { ClassLabels = [0, 12] }, Models())).Message);
    }

    [Fact]
    public async Task Denoise_input_is_validated_against_the_model()
    {
        var model = new FakeDenoiser("m", sampleSize: 4);
        var shape = await Assert.ThrowsAnyAsync<ArgumentException>(() => model.DenoiseAsync(new DenoiseInput(new float[5], [1], [0], 1)));
        Assert.Contains("expects 1 x 1 x 1 x 4 = 4", shape.Message);
        var nan = await Assert.ThrowsAnyAsync<ArgumentException>(() =>
            model.DenoiseAsync(new DenoiseInput([0, float.NaN, 0, 0], [1], [0], 1)));
        Assert.Contains("latents[1] is NaN", nan.Message);
        var t = await Assert.ThrowsAnyAsync<ArgumentException>(() => model.DenoiseAsync(new DenoiseInput(new float[4], [1000], [0], 1)));
        Assert.Contains("timesteps[0] = 1000", t.Message);
        var y = await Assert.ThrowsAnyAsync<ArgumentException>(() => model.DenoiseAsync(new DenoiseInput(new float[4], [3], [11], 1)));
        Assert.Contains("class_labels[0] = 11", y.Message);
        // The null class is a valid label (unconditional).
        Assert.Equal(4, (await model.DenoiseAsync(new DenoiseInput(new float[4], [3], [10], 1))).Length);
    }

    [Fact]
    public void Models_of_different_shapes_or_classes_cannot_be_stitched()
    {
        var wide = new Dictionary<string, IDenoiser>
            { ["small"] = new FakeDenoiser("small", sampleSize: 8), ["large"] = new FakeDenoiser("large") };
        Assert.Contains("different latent shapes", Assert.ThrowsAny<ArgumentException>(() => new Trajectory(Request(), wide)).Message);
    }
}
