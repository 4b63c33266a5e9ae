using System.Diagnostics;
using System.Diagnostics.Metrics;
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
/// Queued calls run on the batcher's own thread, not a thread-pool thread: a model run is long,
/// synchronous CPU work, and with the pool's few threads (one per core) blocked in model runs every
/// other call, stream and continuation in the process waits for the pool to grow (measured: stalls of
/// 2.5 s under 16 concurrent jobs in the one-process cluster).
/// </summary>
public sealed class DynamicBatcher : IDenoiser, IAsyncDisposable
{
    private readonly IModelRunner _model;
    private readonly BatchingOptions _options;
    private readonly KeyValuePair<string, object?> _modelTag;
    private readonly Channel<QueuedCall> _queue = Channel.CreateUnbounded<QueuedCall>(new UnboundedChannelOptions { SingleReader = true });
    /// <summary>
    /// Wakes the batching thread: set when a call is queued and when an enlisted run leaves; the thread
    /// resets it before it looks at the queue, so a call queued after the look sets it again. An event
    /// rather than the channel's own waiting, whose wake-ups are thread-pool work items; one that never
    /// spins (SemaphoreSlim spins before it blocks: measured 19 % of the process's managed CPU under 32
    /// concurrent jobs on 2 cores, taken from the model runs and the jobs it was waiting for).
    /// </summary>
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 0);
    /// <summary>Held by whoever runs the model: an inline caller or the batching thread.</summary>
    private readonly SemaphoreSlim _modelFree = new(1, 1);
    private readonly CancellationTokenSource _stopping = new();
    /// <summary>Merged inputs' tensors, reused run after run (only the batching thread merges).</summary>
    private readonly FloatBuffers _inputs = new();
    private readonly TaskCompletionSource _loopDone = new(TaskCreationOptions.RunContinuationsAsynchronously);
    /// <summary>Calls queued (all, and those of no stage run: the ones the queue's capacity bounds), stage runs enlisted.</summary>
    private int _waiting, _waitingCalls, _enlisted;
    private long _runs, _rows, _calls;

    public DynamicBatcher(IModelRunner model, BatchingOptions options)
    {
        if (options.MaxRows < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxRows must be >= 1.");
        _model = model;
        _options = options;
        _modelTag = DenoisingTelemetry.ModelTag(model.Info.Name);
        new Thread(Loop) { IsBackground = true, Name = $"batcher {model.Info.Name}" }.Start();
        DenoisingTelemetry.Track(this);
    }

    public DenoiserInfo Info => _model.Info;
    /// <summary>Model runs, rows run and calls served so far (a mean batch is Rows / Runs).</summary>
    public (long Runs, long Rows, long Calls) Counters => (Interlocked.Read(ref _runs), Interlocked.Read(ref _rows),
        Interlocked.Read(ref _calls));

    /// <summary>Calls queued for a model run now (the queue-depth gauge).</summary>
    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>
    /// The call queue or the stage-run slots are over 90 % full: the replica should shed traffic (see
    /// <see cref="DenoiserHealthCheck"/>).
    /// </summary>
    public bool Saturated => Math.Max(Volatile.Read(ref _waitingCalls), Volatile.Read(ref _enlisted)) >= 0.9 * _options.QueueCapacity;

    /// <summary>Stage runs active on this replica that call through an <see cref="EnlistedDenoiser"/>.</summary>
    public int Enlisted => Volatile.Read(ref _enlisted);

    /// <summary>
    /// The denoiser a stage run steps through; dispose it when the run ends. A run is admitted here, before its first
    /// step, or refused as overloaded: at most <see cref="BatchingOptions.QueueCapacity"/> stage runs at once, each
    /// with at most one call waiting. Their calls then never meet a full queue, which would fail a run mid-stage
    /// and lose the steps since its last checkpoint.
    /// </summary>
    public EnlistedDenoiser Enlist()
    {
        if (Interlocked.Increment(ref _enlisted) > _options.QueueCapacity)
        {
            Leave();
            throw new QueueFullException($"The '{Info.Name}' replica runs {_options.QueueCapacity} stage runs already (its " +
                $"QueueCapacity); retry with backoff or add replicas.");
        }
        return new EnlistedDenoiser(this);
    }

    internal void Leave()
    {
        Interlocked.Decrement(ref _enlisted);
        _wake.Set(); // a run waiting for this one's next step checks again
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
        // Enlisted runs were admitted against the capacity when they enlisted (one call each at most).
        if (!enlisted && Interlocked.Increment(ref _waitingCalls) > _options.QueueCapacity)
        {
            Interlocked.Decrement(ref _waitingCalls);
            throw new QueueFullException($"The '{Info.Name}' pool's queue is full ({_options.QueueCapacity} calls waiting); retry with " +
                $"backoff or add replicas.");
        }
        Interlocked.Increment(ref _waiting);
        var pending = new QueuedCall(input, Rows(input), DenoisingTelemetry.StartCallSpan(Info.Name, Rows(input)), enlisted);
        pending.Registration = cancellationToken.Register(() => pending.Result.TrySetCanceled(cancellationToken));
        if (!_queue.Writer.TryWrite(pending))
        {
            Unqueued(pending);
            pending.Registration.Dispose();
            throw new ServiceFailureException(FailureKind.ShuttingDown,
                $"The '{Info.Name}' replica is shutting down; retry on another replica.");
        }
        _wake.Set();
        if (pending.Span is { } span) DenoisingTelemetry.EndWhenAnswered(span, pending.Result.Task);
        return pending.Result.Task;
    }

    /// <summary>An output this batcher handed out whole (a lone call's run), back from its caller.</summary>
    public void Recycle(float[] output) => _model.Recycle(output);

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
        if (ReferenceEquals(rows, input)) return BatchInputs.Checked(Info, output, input);
        var guided = Guidance.Combine(output, input.GuidanceScale);
        _model.Recycle(output);
        return BatchInputs.Checked(Info, guided, input);
    }

    private void Loop()
    {
        var reader = _queue.Reader;
        QueuedCall? carried = null;
        try
        {
            while (true)
            {
                _wake.Reset();
                if (carried is null && !reader.TryPeek(out _))
                {
                    _wake.Wait(_stopping.Token);
                    continue;
                }
                // Calls stay queued (and count against the queue's capacity) until the model is free;
                // the batch is formed from whatever is queued at that moment.
                _modelFree.Wait(_stopping.Token);
                try { carried = RunNext(reader, carried); }
                finally { _modelFree.Release(); }
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
        catch (Exception ex)
        {
            // A bug here must not take the process down (an exception on this thread would): the batcher
            // stops, its queued calls fail with the reason, and later ones are refused as by a replica that
            // is shutting down, so callers retry on another replica.
            _queue.Writer.TryComplete(ex);
            carried?.Result.TrySetException(ex);
            while (reader.TryRead(out var left))
            {
                Unqueued(left);
                left.Result.TrySetException(ex);
                left.Registration.Dispose();
            }
        }
        finally
        {
            // Whatever is still queued at shutdown is answered, not left hanging (a carried call is off the queue already).
            while (reader.TryRead(out var left))
            {
                Unqueued(left);
                Drop(left);
            }
            if (carried is not null) Drop(carried);
            _loopDone.TrySetResult();
        }
    }

    /// <summary>
    /// Forms one batch from the queue (and a call carried over from the last) and runs it; returns the call that did not fit.
    /// </summary>
    private QueuedCall? RunNext(ChannelReader<QueuedCall> reader, QueuedCall? carried)
    {
        var batch = new List<QueuedCall>();
        int rows = 0, enlisted = 0;
        if (carried is not null && !carried.Result.Task.IsCompleted)
        {
            batch.Add(carried);
            rows = carried.Rows;
            enlisted += carried.Enlisted ? 1 : 0;
        }
        else carried?.Registration.Dispose();
        carried = null;
        long start = Stopwatch.GetTimestamp();
        long deadline = start + (long)(_options.MaxDelay.TotalSeconds * Stopwatch.Frequency);
        long cohortDeadline = start + (long)(_options.CohortWait.TotalSeconds * Stopwatch.Frequency);
        try
        {
            while (rows < _options.MaxRows)
            {
                _wake.Reset(); // before looking: a call queued after the look sets it again
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
                // Woken by a new call or a run leaving (the condition is checked again), or the wait is over.
                if (remaining <= TimeSpan.Zero || !_wake.Wait(remaining, _stopping.Token)) break;
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested)
        {
            // Stopping while the batch formed: its calls are off the queue, so they are answered here, as the loop
            // answers the queued ones, not left waiting.
            foreach (var p in batch) Drop(p);
            throw;
        }
        // Callers that went away while the batch formed (a stage run cancelled between steps) get no model time.
        // (Looked for first: this runs before every model run, and almost always finds none.)
        if (batch.Exists(p => p.Result.Task.IsCompleted))
            foreach (var p in batch.Where(p => p.Result.Task.IsCompleted).ToList())
            {
                Drop(p);
                batch.Remove(p);
                rows -= p.Rows;
            }
        if (batch.Count > 0) Run(batch, rows);
        return carried;
    }

    private void Unqueued(QueuedCall call)
    {
        Interlocked.Decrement(ref _waiting);
        if (!call.Enlisted) Interlocked.Decrement(ref _waitingCalls);
    }

    /// <summary>A call taken off the queue that will not run: answered as cancelled if it is not answered yet.</summary>
    private static void Drop(QueuedCall call)
    {
        call.Result.TrySetCanceled();
        call.Registration.Dispose();
    }

    /// <summary>Takes a call off the queue; true if its caller had already gone (then it never runs).</summary>
    private bool Dequeued(QueuedCall pending)
    {
        Unqueued(pending);
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
            else
            {
                var merged = BatchInputs.Merge(batch, rows, Info, _inputs);
                try { output = _model.Run(merged, _stopping.Token); }
                finally { BatchInputs.Release(merged, _inputs); }
            }
            Count(rows, batch.Count, batch.Select(p => p.Span));
            int offset = 0, sampleSize = Info.SampleSize;
            // A lone unguided call gets the run's output itself; otherwise each call gets a copy or its
            // guided mix, and the output can be written by the next run.
            bool handedOut = batch is [{ } lone] && lone.Rows == lone.Input.Batch;
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
            if (!handedOut) _model.Recycle(output);
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
        // Closed before the loop is stopped: a call written after the loop's last look at the queue would never be answered.
        _queue.Writer.TryComplete();
        _stopping.Cancel();
        await _loopDone.Task;
        // A run on a caller's own thread (the inline path) may still be in the model: the model (an ONNX Runtime
        // session, disposed right after this) must not go while it runs. Taken for good: nothing runs after this.
        await _modelFree.WaitAsync();
        _stopping.Dispose();
    }
}
