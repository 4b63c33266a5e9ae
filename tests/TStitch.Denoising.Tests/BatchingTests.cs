using TStitch.Denoising;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

public class BatchingTests(ZooModels zoo) : IClassFixture<ZooModels>
{
    private static DenoiseInput Call(int seed, int batch, int timestep, int label, float guidance)
    {
        var latents = new float[batch * 3072];
        StepNoise.Fill(latents, (ulong)seed, 0, 0);
        return new DenoiseInput(latents, Enumerable.Repeat(timestep, batch).ToArray(), Enumerable.Repeat(label, batch).ToArray(), guidance);
    }

    [Fact]
    public async Task Concurrent_calls_are_coalesced_and_each_gets_its_own_answer()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("large"));
        // Different jobs, steps, classes, batch sizes and guidance (none, unconditional, CFG).
        var calls = new[]
        {
            Call(1, 1, 999, 0, 1f), Call(2, 2, 500, 3, 1f), Call(3, 1, 20, 7, 0f), Call(4, 3, 740, 9, 4f),
            Call(5, 1, 0, 2, 1.5f), Call(6, 2, 999, 10, 1f), Call(7, 1, 333, 5, 2f), Call(8, 1, 650, 1, 1f),
        };
        var oneByOne = new List<float[]>();
        foreach (var c in calls) oneByOne.Add(await model.DenoiseAsync(c));
        long runsBefore = model.Runs;

        await using var batcher = new DynamicBatcher(model,
            new BatchingOptions(MaxRows: 256, MaxDelay: TimeSpan.FromMilliseconds(300), QueueCapacity: 64));
        var batched = await Task.WhenAll(calls.Select(c => batcher.DenoiseAsync(c)));

        Assert.True(model.Runs - runsBefore < calls.Length,
            $"{model.Runs - runsBefore} ORT runs for {calls.Length} calls: nothing was coalesced");
        Assert.Equal(calls.Length, batcher.Counters.Calls);
        for (int i = 0; i < calls.Length; i++)
        {
            Assert.Equal(oneByOne[i].Length, batched[i].Length);
            double worst = oneByOne[i].Zip(batched[i], (a, b) => Math.Abs(a - b)).Max();
            Assert.True(worst <= 1e-6, $"call {i}: batched answer differs by {worst:E2}");
        }
    }

    [Fact]
    public async Task Batches_respect_the_row_limit()
    {
        using var model = new OnnxDenoiser(zoo.Manifest("small"));
        await using var batcher = new DynamicBatcher(model,
            new BatchingOptions(MaxRows: 4, MaxDelay: TimeSpan.FromMilliseconds(200), QueueCapacity: 64));
        // Guided calls count twice: 3 calls x 2 rows = 6 rows > 4, so at least two runs.
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => batcher.DenoiseAsync(Call(i, 1, 100, i, 3f))));
        var (runs, rows, _) = batcher.Counters;
        Assert.Equal(6, rows);
        Assert.True(runs >= 2);
    }

    [Fact]
    public async Task A_full_queue_is_refused_and_cancelled_callers_leave_it()
    {
        var gate = new GatedDenoiser();
        await using var batcher = new DynamicBatcher(gate, new BatchingOptions(MaxRows: 64, MaxDelay: TimeSpan.Zero, QueueCapacity: 3));
        // On an idle model the first call runs on its caller's thread: give it one of its own.
        var first = Task.Run(() => batcher.DenoiseAsync(Call(1, 1, 10, 1, 1f)));
        await gate.Entered.Task; // the first call is running; the next ones wait in the queue
        var a = batcher.DenoiseAsync(Call(2, 1, 10, 2, 1f));
        using var cancel = new CancellationTokenSource();
        var b = batcher.DenoiseAsync(Call(3, 1, 10, 3, 1f), cancel.Token);
        var c = batcher.DenoiseAsync(Call(4, 1, 10, 4, 1f));
        var full = Assert.Throws<QueueFullException>(() =>
            { _ = batcher.DenoiseAsync(Call(5, 1, 10, 5, 1f)); }); // refused at once, not queued
        Assert.Contains("queue is full (3 calls waiting)", full.Message);

        cancel.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => b);
        gate.Release.SetResult();
        await Task.WhenAll(first, a, c);
        // Run 1: the first call. Run 2: a and c only; the cancelled call never reached the model.
        Assert.Equal(new[] { new[] { 1 }, new[] { 2, 4 } }, gate.LabelsPerRun);
    }

    /// <summary>Blocks its first run until released, and records the labels of every run.</summary>
    private sealed class GatedDenoiser : IModelRunner
    {
        public TaskCompletionSource Entered { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public TaskCompletionSource Release { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public List<int[]> LabelsPerRun { get; } = [];
        public DenoiserInfo Info { get; } = new("gated", 3, 32, 32, PredictionKind.Epsilon, 10, 10, ScheduleKind.Linear, 1000, 1);

        public float[] Run(DenoiseInput input, CancellationToken cancellationToken = default)
        {
            lock (LabelsPerRun) LabelsPerRun.Add(input.ClassLabels);
            Entered.TrySetResult();
            Release.Task.Wait(cancellationToken); // the batcher's loop blocks in a run, as in ONNX Runtime
            return new float[input.Latents.Length];
        }
    }
}
