using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

/// <summary>
/// Outputs handed back with Recycle are written by later runs instead of fresh arrays, and only
/// arrays nobody holds are reused: a caller's answer is never overwritten under it.
/// </summary>
public class OutputRecyclingTests(ZooModels zoo) : IClassFixture<ZooModels>
{
    private static DenoiseInput Call(int seed, int batch, float guidance = 1f)
    {
        var latents = new float[batch * 3072];
        StepNoise.Fill(latents, (ulong)seed, 0, 0);
        return new DenoiseInput(latents, Enumerable.Repeat(500, batch).ToArray(), Enumerable.Repeat(3, batch).ToArray(), guidance);
    }

    [Fact]
    public async Task A_recycled_output_is_written_by_the_next_run_of_its_size_with_the_same_values()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("small"));
        var first = await model.DenoiseAsync(Call(1, 8));
        var expected = (float[])(await model.DenoiseAsync(Call(2, 8))).Clone();
        model.Recycle(first);
        var reused = await model.DenoiseAsync(Call(2, 8));
        Assert.Same(first, reused);
        Assert.Equal(expected, reused);
        // Another size does not take it.
        model.Recycle(reused);
        Assert.NotSame(reused, await model.DenoiseAsync(Call(3, 1)));
    }

    [Fact]
    public void Buffers_keep_arrays_within_their_byte_budget()
    {
        const int large = 100_000; // 400 KB
        var buffers = new FloatBuffers(maxBytes: 1_000_000);
        var kept = new[] { new float[large], new float[large] };
        foreach (var a in kept) buffers.Return(a);
        buffers.Return(new float[large]); // a third would exceed 1 MB
        Assert.Equal(800_000, buffers.HeldBytes);
        var taken = new[] { buffers.Take(large), buffers.Take(large), buffers.Take(large) };
        Assert.Equal(2, taken.Count(t => kept.Contains(t)));
        Assert.Equal(0, buffers.HeldBytes);
    }

    [Fact]
    public async Task Answers_the_caller_still_holds_are_never_reused()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("small"));
        await using var batcher = new DynamicBatcher(model, new BatchingOptions(64, TimeSpan.Zero, 8));
        // Lone calls get the run's output itself; guided calls a mix, their raw output recycled inside.
        var held = new List<(float[] Answer, float[] Copy)>();
        for (int i = 0; i < 6; i++)
        {
            var answer = await batcher.DenoiseAsync(Call(i, 8, guidance: i % 2 == 0 ? 1f : 3f));
            held.Add((answer, (float[])answer.Clone()));
        }
        foreach (var (answer, copy) in held) Assert.Equal(copy, answer);
        Assert.Equal(held.Count, held.Select(h => h.Answer).Distinct().Count());
    }

    [Fact]
    public async Task Merged_runs_that_reuse_input_buffers_still_answer_each_call_with_its_own_rows()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("small"));
        await using var batcher = new DynamicBatcher(model, new BatchingOptions(64, TimeSpan.FromMilliseconds(200), 64));
        for (int round = 0; round < 3; round++)
        {
            // The same shapes every round, so each merge takes the buffers the last one handed back.
            var calls = Enumerable.Range(0, 4).Select(i => Call(10 * round + i, 2, guidance: i == 3 ? 3f : 1f)).ToArray();
            var expected = new List<float[]>();
            foreach (var c in calls) expected.Add(await model.DenoiseAsync(c));
            long runs = model.Runs;
            var batched = await Task.WhenAll(calls.Select(c => batcher.DenoiseAsync(c)));
            Assert.True(model.Runs - runs < calls.Length, "the calls were not merged");
            for (int i = 0; i < calls.Length; i++)
                Assert.True(expected[i].Zip(batched[i], (a, b) => Math.Abs(a - b)).Max() <= 1e-6, $"round {round}, call {i}");
        }
    }

    [Fact]
    public async Task A_trajectory_that_recycles_gives_the_same_bytes_as_one_that_does_not()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("small"));
        var request = new TrajectoryRequest([1, 4, 7], 12, SamplerKind.DpmSolverPP2M, SwitchSchedule.OneModel("small"), 2f, 5);
        var recycling = new Trajectory(request, new Dictionary<string, IDenoiser> { ["small"] = model });
        var plain = new Trajectory(request, new Dictionary<string, IDenoiser> { ["small"] = new NoRecycling(model) });
        var a = await recycling.RunAsync(recycling.Start());
        var b = await plain.RunAsync(plain.Start());
        Assert.Equal(b.Latents, a.Latents);
    }

    /// <summary>The same model with Recycle left at its default (dropping the array).</summary>
    private sealed class NoRecycling(IDenoiser inner) : IDenoiser
    {
        public DenoiserInfo Info => inner.Info;
        public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default) =>
            inner.DenoiseAsync(input, cancellationToken);
    }
}
