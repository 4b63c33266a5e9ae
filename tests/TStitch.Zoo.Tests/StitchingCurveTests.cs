using TStitch.Quality;
using TStitch.Sampling;

namespace TStitch.Zoo.Tests;

/// <summary>What must hold of the T-Stitch curve on our zoo (the full table is `tstitch sweep`, docs/frontier.md).</summary>
[Collection(ZooCollection.Name)]
public class StitchingCurveTests(ZooFixture zoo)
{
    private static readonly SweepOptions Options = new() { Samples = 1000, Steps = 50, Sampler = SamplerKind.Ddim, Seed = 7 };

    private Task<float[]> Sample(SwitchSchedule schedule) => StitchingSweep.SampleAsync(zoo.Models, schedule, Options);
    private int[] Labels => Enumerable.Range(0, Options.Samples).Select(i => i % 10).ToArray();

    [Fact]
    public async Task Curve_endpoints_quality_ordering_and_r_04()
    {
        var largeOnly = await Sample(new SwitchSchedule([new("large", 1)]));
        var smallOnly = await Sample(new SwitchSchedule([new("small", 1)]));
        Assert.Equal(largeOnly, await Sample(SwitchSchedule.SmallThenLarge(0, "small", "large")));
        Assert.Equal(smallOnly, await Sample(SwitchSchedule.SmallThenLarge(1, "small", "large")));

        var noise = new float[largeOnly.Length];
        for (int i = 0; i < Options.Samples; i++) StepNoise.Fill(noise.AsSpan(i * 3072, 3072), 999, i, 0);
        var large = zoo.Metric.Evaluate(largeOnly, Labels);
        var small = zoo.Metric.Evaluate(smallOnly, Labels);
        var pure = zoo.Metric.Evaluate(noise, Labels);
        var stitched = zoo.Metric.Evaluate(await Sample(SwitchSchedule.SmallThenLarge(0.4, "small", "large")), Labels);

        Assert.True(large.FrechetDistance < pure.FrechetDistance / 5,
            $"large {large.FrechetDistance:F3} vs noise {pure.FrechetDistance:F3}");
        Assert.True(large.FrechetDistance < small.FrechetDistance / 2,
            $"large {large.FrechetDistance:F3} vs small {small.FrechetDistance:F3}");
        Assert.True(large.ClassAccuracy >= 0.9 * zoo.Metric.ReferenceClassAccuracy,
            $"large-only class accuracy {large.ClassAccuracy:F3} vs real held-out {zoo.Metric.ReferenceClassAccuracy:F3}");
        Assert.True(Math.Abs(stitched.FrechetDistance - large.FrechetDistance) < Math.Abs(stitched.FrechetDistance - small.FrechetDistance),
            $"r=0.4 FD {stitched.FrechetDistance:F3} should be closer to large {large.FrechetDistance:F3} " +
            $"than small {small.FrechetDistance:F3}");
    }

    [Theory]
    [InlineData(SamplerKind.Ddpm, 17)]
    [InlineData(SamplerKind.DpmSolverPP2M, 9)]
    public async Task Zoo_trajectories_are_reproducible_and_resumable(SamplerKind sampler, int stopAfter)
    {
        var request = new TrajectoryRequest([0, 3, 6, 9], 25, sampler, SwitchSchedule.SmallThenLarge(0.4, "small", "large"), 1.5f, 11);
        var full = new Trajectory(request, zoo.Models);
        var expected = (await full.RunAsync(full.Start())).Latents;
        var again = new Trajectory(request, zoo.Models);
        Assert.Equal(expected, (await again.RunAsync(again.Start())).Latents);

        var partial = new Trajectory(request, zoo.Models);
        var state = partial.Start();
        while (state.Step < stopAfter) await partial.StepAsync(state);
        var resumed = new Trajectory(request, zoo.Models);
        var restored = new SamplerState(state.Step, (float[])state.Latents.Clone(), (float[]?)state.PreviousX0?.Clone());
        Assert.Equal(expected, (await resumed.RunAsync(restored)).Latents);
    }
}
