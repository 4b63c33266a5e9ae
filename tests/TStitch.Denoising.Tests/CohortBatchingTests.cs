using TStitch.Denoising;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

/// <summary>Enlisted stage runs wait for each other's next step, so concurrent jobs share model runs instead
/// of falling out of step.</summary>
public class CohortBatchingTests
{
    /// <summary>out = 2x + t; counts runs and the rows of each.</summary>
    private sealed class DoublingModel : IModelRunner
    {
        public readonly List<int> RunRows = [];
        public DenoiserInfo Info { get; } = new("m", 1, 1, 2, PredictionKind.Epsilon, 10, 10, ScheduleKind.Linear, 1000, 1);

        public float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default)
        {
            lock (RunRows) RunRows.Add(rows.Batch);
            return rows.Latents.Select((x, k) => 2 * x + rows.Timesteps[k / 2]).ToArray();
        }
    }

    /// <summary>The doubling model, held inside its run until <see cref="Open"/> is set.</summary>
    private sealed class GatedModel : IModelRunner, IDisposable
    {
        private readonly DoublingModel _inner = new();
        public readonly ManualResetEventSlim Open = new(false), Entered = new(false);
        public DenoiserInfo Info => _inner.Info;

        public float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default)
        {
            Entered.Set();
            Open.Wait(cancellationToken);
            return _inner.Run(rows, cancellationToken);
        }

        public void Dispose()
        {
            Open.Dispose();
            Entered.Dispose();
        }
    }

    private static DenoiseInput Call(float x, int t) => new([x, x + 1], [t], [1], 1f);

    // A wait far longer than the test: if a run waited for it in full, the test would hang instead of pass.
    private static readonly BatchingOptions LongCohortWait = new(MaxRows: 64, MaxDelay: TimeSpan.Zero, QueueCapacity: 16,
        CohortWait: TimeSpan.FromHours(1));

    [Fact]
    public async Task A_run_waits_for_every_enlisted_stage_runs_step_and_answers_each()
    {
        var model = new DoublingModel();
        await using var batcher = new DynamicBatcher(model, LongCohortWait);
        using var a = batcher.Enlist();
        using var b = batcher.Enlist();
        using var c = batcher.Enlist();
        Assert.Equal(3, batcher.Enlisted);

        // a and b call at once, c a little later (still between steps): one run of all three.
        var first = a.DenoiseAsync(Call(1, 10));
        var second = b.DenoiseAsync(Call(5, 20));
        await Task.Delay(50);
        Assert.False(first.IsCompleted, "the run started without the third enlisted stage run");
        var third = c.DenoiseAsync(Call(-1, 30));
        var answers = await Task.WhenAll(first, second, third).WaitAsync(TimeSpan.FromSeconds(30));

        Assert.Equal([3], model.RunRows);
        Assert.Equal([12f, 14f], answers[0]);
        Assert.Equal([30f, 32f], answers[1]);
        Assert.Equal([28f, 30f], answers[2]);
    }

    [Fact]
    public async Task A_stage_run_that_ends_stops_the_others_waiting_for_it()
    {
        var model = new DoublingModel();
        await using var batcher = new DynamicBatcher(model, LongCohortWait);
        using var a = batcher.Enlist();
        var b = batcher.Enlist();
        var call = a.DenoiseAsync(Call(1, 10));
        await Task.Delay(50);
        Assert.False(call.IsCompleted);
        b.Dispose();
        b.Dispose(); // leaving twice counts once
        var answer = await call.WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([12f, 14f], answer);
        Assert.Equal(1, batcher.Enlisted);

        // A lone enlisted run is not held back at all: it runs on its own thread, as a lone call always did. The batcher
        // answers a batch before it frees the model, so give it a moment to finish (or this call would find it busy).
        await Task.Delay(50);
        Assert.True(a.DenoiseAsync(Call(2, 0)).IsCompleted);
    }

    [Fact]
    public async Task A_call_whose_caller_leaves_while_its_batch_forms_gets_no_model_time()
    {
        var model = new DoublingModel();
        await using var batcher = new DynamicBatcher(model, LongCohortWait);
        using var a = batcher.Enlist();
        var b = batcher.Enlist();
        using var leaving = new CancellationTokenSource();
        var call = a.DenoiseAsync(Call(1, 10), leaving.Token);
        await Task.Delay(50); // taken off the queue, waiting for b's step
        leaving.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(30)));
        b.Dispose(); // the cohort wait ends: the batch would run now
        var answer = await a.DenoiseAsync(Call(2, 2)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([6f, 8f], answer);
        Assert.Equal([1], model.RunRows); // the second call's run only
    }

    [Fact]
    public async Task Calls_in_a_forming_batch_are_answered_when_the_batcher_stops()
    {
        var model = new DoublingModel();
        var batcher = new DynamicBatcher(model, LongCohortWait);
        using var a = batcher.Enlist();
        using var b = batcher.Enlist();
        var call = a.DenoiseAsync(Call(1, 10));
        await Task.Delay(50); // taken off the queue, waiting for b's step
        await batcher.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => call.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Empty(model.RunRows);
    }

    [Fact]
    public async Task Stage_runs_are_admitted_against_the_capacity_and_their_steps_never_meet_a_full_queue()
    {
        using var model = new GatedModel();
        await using var batcher = new DynamicBatcher(model, new BatchingOptions(MaxRows: 1, MaxDelay: TimeSpan.Zero, QueueCapacity: 1));
        using var run = batcher.Enlist();
        Assert.Throws<QueueFullException>(() => batcher.Enlist()); // one stage run is this replica's capacity
        Assert.Equal(1, batcher.Enlisted);

        var running = Task.Run(() => batcher.DenoiseAsync(Call(1, 0))); // runs inline and holds the model
        Assert.True(model.Entered.Wait(TimeSpan.FromSeconds(30)));
        var queued = batcher.DenoiseAsync(Call(2, 0)); // the queue's one call
        await Assert.ThrowsAsync<QueueFullException>(() => batcher.DenoiseAsync(Call(3, 0)));
        var step = run.DenoiseAsync(Call(4, 0)); // the stage run's step is not refused
        model.Open.Set();
        var answers = await Task.WhenAll(running, queued, step).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal([8f, 10f], answers[2]);
    }

    [Fact]
    public async Task Stopping_waits_for_a_run_on_a_callers_thread_before_the_model_can_go()
    {
        using var model = new GatedModel();
        var batcher = new DynamicBatcher(model, LongCohortWait);
        var running = Task.Run(() => batcher.DenoiseAsync(Call(1, 0))); // inline: the model runs on this thread
        Assert.True(model.Entered.Wait(TimeSpan.FromSeconds(30)));
        var stopped = batcher.DisposeAsync().AsTask();
        await Task.Delay(200);
        Assert.False(stopped.IsCompleted, "the batcher stopped while its model was still running a call");
        model.Open.Set();
        await stopped.WaitAsync(TimeSpan.FromSeconds(30));
        var answer = await running;
        Assert.Equal([2f, 4f], answer);
    }

    [Fact]
    public async Task Without_a_cohort_wait_enlisting_changes_nothing()
    {
        var model = new DoublingModel();
        await using var batcher = new DynamicBatcher(model, LongCohortWait with { CohortWait = TimeSpan.Zero });
        using var a = batcher.Enlist();
        using var b = batcher.Enlist();
        // Nothing else is queued and the model is idle: the call runs at once on the caller's thread.
        var call = a.DenoiseAsync(Call(1, 10));
        Assert.True(call.IsCompleted);
        var answer = await call;
        Assert.Equal([12f, 14f], answer);
    }
}
