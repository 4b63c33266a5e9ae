using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Numerics.Tensors;
using System.Threading.Channels;
using TStitch.Hosting.Errors;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>
/// Triton-style dynamic batching in front of one model: concurrent calls (any jobs, steps, classes,
/// guidance scales) are coalesced into one run of up to <see cref="BatchingOptions.MaxRows"/> rows,
/// waiting at most <see cref="BatchingOptions.MaxDelay"/> after the first, then split back. Guided
/// calls contribute their conditional and null-class rows, so each caller's guidance is mixed from its
/// own rows. A call that finds the model idle and nobody queued runs at once on its own thread (no
/// hand-off: the common case of one job per replica); calls that arrive while a run is busy queue and
/// share the next run. The queue is bounded; a cancelled caller is dropped before its rows run.
/// Stage runs enlist (<see cref="Enlist"/>): they call again right after each step, so with several of
/// them a run waits up to <see cref="BatchingOptions.CohortWait"/> for every enlisted run's next step
/// before starting. Without that, the first run back from its sampler step finds the model idle and
/// goes alone, and concurrent jobs fall out of step into small runs (measured: 4-5 rows per run with 16
/// jobs of 2 images, docs/benchmarks.md).
/// </summary>
public sealed class DynamicBatcher : IDenoiser, IAsyncDisposable
{
    private readonly IModelRunner _model;
    private readonly BatchingOptions _options;
    private readonly KeyValuePair<string, object?> _modelTag;
    private readonly Channel<QueuedCall> _queue = Channel.CreateUnbounded<QueuedCall>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>Held by whoever runs the model: an inline caller or the batching loop.</summary>
    private readonly SemaphoreSlim _modelFree = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private int _waiting, _enlisted;
    /// <summary>Completed when an enlisted run leaves, so a run waiting for its step stops waiting.</summary>
    private TaskCompletionSource _left = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _runs, _rows, _calls;

    public DynamicBatcher(IModelRunner model, BatchingOptions options)
    {
        if (options.MaxRows < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxRows must be >= 1.");
        _model = model;
        _options = options;
        _modelTag = DenoisingTelemetry.ModelTag(model.Info.Name);
        _loop = Task.Run(LoopAsync);
        DenoisingTelemetry.Track(this);
    }

    public DenoiserInfo Info => _model.Info;
    /// <summary>Model runs, rows run and calls served so far (a mean batch is Rows / Runs).</summary>
    public (long Runs, long Rows, long Calls) Counters => (Interlocked.Read(ref _runs), Interlocked.Read(ref _rows),
        Interlocked.Read(ref _calls));

    /// <summary>Calls queued for a model run now (the queue-depth gauge).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The queue is over 90 % full: the replica should shed traffic (see <see cref="DenoiserHealthCheck"/>).</summary>
    public bool Saturated => Volatile.Read(ref _waiting) >= 0.9 * _options.QueueCapacity;

    /// <summary>Stage runs active on this replica that call through an <see cref="EnlistedDenoiser"/>.</summary>
    public int Enlisted => Volatile.Read(ref _enlisted);

    /// <summary>The denoiser a stage run steps through; dispose it when the run ends.</summary>
    public EnlistedDenoiser Enlist()
    {
        Interlocked.Increment(ref _enlisted);
        return new EnlistedDenoiser(this);
    }

    internal void Leave()
    {
        Interlocked.Decrement(ref _enlisted);
        Interlocked.Exchange(ref _left, new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously)).TrySetResult();
    }

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default) =>
        DenoiseAsync(input, enlisted: false, cancellationToken);

    internal Task<float[]> DenoiseAsync(DenoiseInput input, bool enlisted, CancellationToken cancellationToken)
    {
        input.Validate(Info);
        cancellationToken.ThrowIfCancellationRequested();
        if (_stopping.IsCancellationRequested)
            throw new ServiceFailureException(FailureKind.ShuttingDown,
                $"The '{Info.Name}' replica is shutting down; retry on another replica.");
        // Greedy batching only (no MaxDelay): a lone call on an idle model has nothing to wait for, unless
        // other enlisted stage runs are about to call too.
        if (_options.MaxDelay == TimeSpan.Zero && Volatile.Read(ref _waiting) == 0 && !CohortPending(enlisted ? 1 : 0)
            && _modelFree.Wait(0, CancellationToken.None))
        {
            try { return Task.FromResult(RunInline(input, cancellationToken)); }
            catch (Exception ex) { return Task.FromException<float[]>(ex); }
            finally { _modelFree.Release(); }
        }
        if (Interlocked.Increment(ref _waiting) > _options.QueueCapacity)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException($"The '{Info.Name}' pool's queue is full ({_options.QueueCapacity} calls waiting); retry with " +
                $"backoff or add replicas.");
        }
        var pending = new QueuedCall(input, Rows(input), DenoisingTelemetry.StartCallSpan(Info.Name, Rows(input)), enlisted);
        pending.Registration = cancellationToken.Register(() => pending.Result.TrySetCanceled(cancellationToken));
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _waiting);
            pending.Registration.Dispose();
            throw new ServiceFailureException(FailureKind.ShuttingDown,
                $"The '{Info.Name}' replica is shutting down; retry on another replica.");
        }
        if (pending.Span is { } span) DenoisingTelemetry.EndWhenAnswered(span, pending.Result.Task);
        return pending.Result.Task;
    }

    /// <summary>Enlisted stage runs exist whose calls are not among the <paramref name="present"/> ones (cohort waiting is on).</summary>
    private bool CohortPending(int present) => _options.CohortWait > TimeSpan.Zero && present < Volatile.Read(ref _enlisted);

    /// <summary>Rows a call adds to a run: its batch, twice when guided (conditional + null class).</summary>
    private static int Rows(DenoiseInput input) => Guidance.IsNeeded(input.GuidanceScale) ? 2 * input.Batch : input.Batch;

    private float[] RunInline(DenoiseInput input, CancellationToken cancellationToken)
    {
        using var span = DenoisingTelemetry.StartCallSpan(Info.Name, Rows(input));
        var rows = Guidance.IsNeeded(input.GuidanceScale) ? Guidance.WithUnconditionalHalf(input, Info.NullClassId) : input;
        var output = _model.Run(rows, cancellationToken);
        Count(rows.Batch, calls: 1, [span]);
        DenoisingTelemetry.QueueWait.Record(0, _modelTag);
        return BatchInputs.Checked(Info, ReferenceEquals(rows, input) ? output : Guidance.Combine(output, input.GuidanceScale), input);
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        QueuedCall? carried = null;
        try
        {
            while (carried is not null || await reader.WaitToReadAsync(_stopping.Token))
            {
                // Calls stay queued (and count against the queue's capacity) until the model is free;
                // the batch is formed from whatever is queued at that moment.
                await _modelFree.WaitAsync(_stopping.Token);
                try { carried = await RunNextAsync(reader, carried); }
                finally { _modelFree.Release(); }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
        // Whatever is still queued at shutdown is answered, not left hanging.
        while (reader.TryRead(out var left)) left.Result.TrySetCanceled();
        carried?.Result.TrySetCanceled();
    }

    /// <summary>Forms one batch from the queue (and a call carried over from the last) and runs it; returns the call that did not fit.</summary>
    private async Task<QueuedCall?> RunNextAsync(ChannelReader<QueuedCall> reader, QueuedCall? carried)
    {
        var batch = new List<QueuedCall>();
        int rows = 0, enlisted = 0;
        if (carried is not null && !carried.Result.Task.IsCompleted) { batch.Add(carried); rows = carried.Rows; enlisted += carried.Enlisted ? 1 : 0; }
        else carried?.Registration.Dispose();
        carried = null;
        long start = Stopwatch.GetTimestamp();
        long deadline = start + (long)(_options.MaxDelay.TotalSeconds * Stopwatch.Frequency);
        long cohortDeadline = start + (long)(_options.CohortWait.TotalSeconds * Stopwatch.Frequency);
        while (rows < _options.MaxRows)
        {
            if (reader.TryRead(out var next))
            {
                if (Dequeued(next)) continue;
                if (batch.Count > 0 && rows + next.Rows > _options.MaxRows) { carried = next; break; }
                batch.Add(next);
                rows += next.Rows;
                enlisted += next.Enlisted ? 1 : 0;
                continue;
            }
            if (batch.Count == 0) break; // only cancelled calls were waiting
            long until = CohortPending(enlisted) ? Math.Max(deadline, cohortDeadline) : deadline;
            var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), until);
            if (remaining <= TimeSpan.Zero || !await WaitForMoreAsync(reader, remaining)) break;
        }
        if (batch.Count > 0) Run(batch, rows);
        return carried;
    }

    /// <summary>
    /// Waits up to <paramref name="remaining"/> for another call (MaxDelay or cohort batching); true if one
    /// came or an enlisted run left (the batch's wait condition is then checked again), false on timeout.
    /// </summary>
    private async Task<bool> WaitForMoreAsync(ChannelReader<QueuedCall> reader, TimeSpan remaining)
    {
        using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
        wait.CancelAfter(remaining);
        var left = Volatile.Read(ref _left).Task;
        try
        {
            var more = reader.WaitToReadAsync(wait.Token).AsTask();
            if (await Task.WhenAny(more, left) == left) { await wait.CancelAsync(); return true; }
            return await more;
        }
        catch (OperationCanceledException) when (!_stopping.IsCancellationRequested) { return false; }
    }

    /// <summary>Takes a call off the queue; true if its caller had already gone (then it never runs).</summary>
    private bool Dequeued(QueuedCall pending)
    {
        Interlocked.Decrement(ref _waiting);
        double waited = Stopwatch.GetElapsedTime(pending.Enqueued).TotalMilliseconds;
        DenoisingTelemetry.QueueWait.Record(waited, _modelTag);
        pending.Span?.SetTag("tstitch.queue_wait_ms", waited);
        if (!pending.Result.Task.IsCompleted) return false;
        pending.Registration.Dispose();
        return true;
    }

    /// <summary>One model run over every queued call's rows (a lone unguided call as it is, without copies), split back per call.</summary>
    private void Run(List<QueuedCall> batch, int rows)
    {
        try
        {
            float[] output;
            if (batch is [{ Rows: var single } only] && single == only.Input.Batch) output = _model.Run(only.Input, _stopping.Token);
            else output = _model.Run(BatchInputs.Merge(batch, rows, Info), _stopping.Token);
            Count(rows, batch.Count, batch.Select(p => p.Span));
            int offset = 0, sampleSize = Info.SampleSize;
            foreach (var p in batch)
            {
                var mine = output.AsSpan(offset * sampleSize, p.Rows * sampleSize);
                offset += p.Rows;
                try
                {
                    var answer = p.Rows == p.Input.Batch ? (batch.Count == 1 ? output : mine.ToArray()) : Guidance.Combine(mine,
                        p.Input.GuidanceScale);
                    p.Result.TrySetResult(BatchInputs.Checked(Info, answer, p.Input));
                }
                catch (Exception ex) { p.Result.TrySetException(ex); }
                p.Registration.Dispose();
            }
        }
        catch (Exception ex)
        {
            foreach (var p in batch)
            {
                p.Result.TrySetException(ex);
                p.Registration.Dispose();
            }
        }
    }

    private void Count(int rows, int calls, IEnumerable<Activity?> spans)
    {
        Interlocked.Increment(ref _runs);
        Interlocked.Add(ref _rows, rows);
        Interlocked.Add(ref _calls, calls);
        DenoisingTelemetry.BatchRows.Record(rows, _modelTag);
        foreach (var span in spans) span?.SetTag("tstitch.run_rows", rows);
    }

    public async ValueTask DisposeAsync()
    {
        DenoisingTelemetry.Untrack(this);
        _stopping.Cancel();
        _queue.Writer.TryComplete();
        await _loop;
        _stopping.Dispose();
    }
}
