using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Threading.Channels;
using TStitch.Hosting.Errors;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>
/// Triton-style dynamic batching in front of one model: concurrent Denoise calls (any jobs, steps,
/// classes, guidance scales) are coalesced into one run of up to <see cref="BatchingOptions.MaxRows"/>
/// rows, waiting at most <see cref="BatchingOptions.MaxDelay"/> after the first, then split back.
/// Guided requests contribute their conditional and null-class rows, so each caller's guidance is
/// mixed from its own rows. The queue is bounded; a cancelled caller is dropped before its rows run
/// (a caller cancelled during its run is answered at once, while the run may still read its input).
/// </summary>
public sealed class DynamicBatcher : IDenoiser, IAsyncDisposable
{
    private static readonly Histogram<int> BatchRows = DenoisingTelemetry.Meter.CreateHistogram<int>("tstitch.denoiser.batch_rows", description: "Rows per model run");
    private static readonly Histogram<double> QueueWait = DenoisingTelemetry.Meter.CreateHistogram<double>("tstitch.denoiser.queue_wait", "ms", "Time a call waited before its run");
    private readonly KeyValuePair<string, object?> _modelTag;

    private readonly IModelRunner _model;
    private readonly BatchingOptions _options;
    private readonly Channel<Pending> _queue = Channel.CreateUnbounded<Pending>(new UnboundedChannelOptions { SingleReader = true });
    private readonly CancellationTokenSource _stopping = new();
    private readonly Task _loop;
    private int _waiting;
    private long _runs, _rows, _calls;

    public DynamicBatcher(IModelRunner model, BatchingOptions options)
    {
        if (options.MaxRows < 1) throw new ArgumentOutOfRangeException(nameof(options), "MaxRows must be >= 1.");
        _model = model;
        _options = options;
        _modelTag = new("tstitch.model", model.Info.Name);
        _loop = Task.Run(LoopAsync);
    }

    public DenoiserInfo Info => _model.Info;
    /// <summary>Model runs, rows run and calls served so far (a mean batch is Rows / Runs).</summary>
    public (long Runs, long Rows, long Calls) Counters => (Interlocked.Read(ref _runs), Interlocked.Read(ref _rows), Interlocked.Read(ref _calls));

    /// <summary>The queue is over 90 % full: the replica should shed traffic (see <see cref="DenoiserHealthCheck"/>).</summary>
    public bool Saturated => Volatile.Read(ref _waiting) >= 0.9 * _options.QueueCapacity;

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        input.Validate(Info);
        cancellationToken.ThrowIfCancellationRequested();
        if (Interlocked.Increment(ref _waiting) > _options.QueueCapacity)
        {
            Interlocked.Decrement(ref _waiting);
            throw new QueueFullException($"The '{Info.Name}' pool's queue is full ({_options.QueueCapacity} calls waiting); retry with backoff or add replicas.");
        }
        var pending = new Pending(input, Guidance.IsNeeded(input.GuidanceScale) ? 2 * input.Batch : input.Batch);
        Trace(pending);
        pending.Registration = cancellationToken.Register(() => pending.Result.TrySetCanceled(cancellationToken));
        if (!_queue.Writer.TryWrite(pending))
        {
            Interlocked.Decrement(ref _waiting);
            pending.Registration.Dispose();
            throw new ServiceFailureException(FailureKind.ShuttingDown, $"The '{Info.Name}' replica is shutting down; retry on another replica.");
        }
        return pending.Result.Task;
    }

    /// <summary>
    /// A span per call from queueing to its answer, tagged with its rows, its queue wait and the rows of the
    /// model run it shared. It ends when the run answers, so it is not left as the caller's current span.
    /// </summary>
    private void Trace(Pending pending)
    {
        var span = DenoisingTelemetry.ActivitySource.StartActivity("batcher.call");
        if (span is null) return;
        Activity.Current = span.Parent;
        span.SetTag("tstitch.model", Info.Name);
        span.SetTag("tstitch.rows", pending.Rows);
        pending.Span = span;
        _ = pending.Result.Task.ContinueWith(static (t, state) =>
        {
            var a = (Activity)state!;
            if (t.IsFaulted) a.SetStatus(ActivityStatusCode.Error, t.Exception?.InnerException?.Message);
            a.Stop();
        }, span, CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }

    private async Task LoopAsync()
    {
        var reader = _queue.Reader;
        Pending? carried = null;
        try
        {
            while (carried is not null || await reader.WaitToReadAsync(_stopping.Token))
            {
                var batch = new List<Pending>();
                int rows = 0;
                if (carried is not null && !carried.Result.Task.IsCompleted) { batch.Add(carried); rows = carried.Rows; }
                else carried?.Registration.Dispose();
                carried = null;
                var deadline = Stopwatch.GetTimestamp() + (long)(_options.MaxDelay.TotalSeconds * Stopwatch.Frequency);
                while (rows < _options.MaxRows)
                {
                    if (reader.TryRead(out var next))
                    {
                        if (Dequeued(next)) continue;
                        if (batch.Count > 0 && rows + next.Rows > _options.MaxRows) { carried = next; break; }
                        batch.Add(next);
                        rows += next.Rows;
                        continue;
                    }
                    if (batch.Count == 0) break; // only cancelled calls were waiting
                    var remaining = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), deadline);
                    if (remaining <= TimeSpan.Zero) break;
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stopping.Token);
                    wait.CancelAfter(remaining);
                    try { if (!await reader.WaitToReadAsync(wait.Token)) break; }
                    catch (OperationCanceledException) when (!_stopping.IsCancellationRequested) { break; }
                }
                if (batch.Count > 0) Run(batch, rows);
            }
        }
        catch (OperationCanceledException) when (_stopping.IsCancellationRequested) { }
        // Whatever is still queued at shutdown is answered, not left hanging.
        while (reader.TryRead(out var left)) left.Result.TrySetCanceled();
        carried?.Result.TrySetCanceled();
    }

    /// <summary>Takes a call off the queue; true if its caller had already gone (then it never runs).</summary>
    private bool Dequeued(Pending pending)
    {
        Interlocked.Decrement(ref _waiting);
        double waited = Stopwatch.GetElapsedTime(pending.Enqueued).TotalMilliseconds;
        QueueWait.Record(waited, _modelTag);
        pending.Span?.SetTag("tstitch.queue_wait_ms", waited);
        if (!pending.Result.Task.IsCompleted) return false;
        pending.Registration.Dispose();
        return true;
    }

    private void Run(List<Pending> batch, int rows)
    {
        if (batch is [{ Rows: var single } only] && single == only.Input.Batch)
        {
            // A lone unguided call (the common case at low load) runs as it is: no copies.
            RunAlone(only);
            return;
        }
        int sampleSize = Info.SampleSize;
        var latents = new float[rows * sampleSize];
        var timesteps = new int[rows];
        var labels = new int[rows];
        int row = 0;
        foreach (var p in batch)
        {
            var input = p.Input;
            for (int half = 0; half < p.Rows / input.Batch; half++)
            {
                input.Latents.CopyTo(latents, row * sampleSize);
                input.Timesteps.CopyTo(timesteps, row);
                if (half == 0) input.ClassLabels.CopyTo(labels, row);
                else Array.Fill(labels, Info.NullClassId, row, input.Batch);
                row += input.Batch;
            }
        }
        try
        {
            // Every call was validated on entry and guidance is expanded above: one plain run of all rows.
            var output = _model.Run(new DenoiseInput(latents, timesteps, labels, 1f), _stopping.Token);
            Interlocked.Increment(ref _runs);
            Interlocked.Add(ref _rows, rows);
            Interlocked.Add(ref _calls, batch.Count);
            BatchRows.Record(rows, _modelTag);
            foreach (var p in batch) p.Span?.SetTag("tstitch.run_rows", rows);
            int offset = 0;
            foreach (var p in batch)
            {
                var mine = output.AsSpan(offset * sampleSize, p.Rows * sampleSize);
                offset += p.Rows;
                Complete(p, p.Rows == p.Input.Batch ? mine.ToArray() : Guidance.Combine(mine, p.Input.GuidanceScale));
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

    private void RunAlone(Pending pending)
    {
        try
        {
            var output = _model.Run(pending.Input, _stopping.Token);
            Interlocked.Increment(ref _runs);
            Interlocked.Add(ref _rows, pending.Rows);
            Interlocked.Increment(ref _calls);
            BatchRows.Record(pending.Rows, _modelTag);
            pending.Span?.SetTag("tstitch.run_rows", pending.Rows);
            Complete(pending, output);
        }
        catch (Exception ex)
        {
            pending.Result.TrySetException(ex);
            pending.Registration.Dispose();
        }
    }

    /// <summary>
    /// Answers a call, unless the model produced non-finite values for it: then it fails, naming the model
    /// and the timestep, instead of handing NaNs to a sampler that would carry them to the image.
    /// </summary>
    private void Complete(Pending pending, float[] output)
    {
        int bad = Array.FindIndex(output, v => !float.IsFinite(v));
        if (bad < 0) pending.Result.TrySetResult(output);
        else
            pending.Result.TrySetException(new ServiceFailureException(FailureKind.Internal,
                $"Model '{Info.Name}' produced a non-finite value ({output[bad]}) at timestep {pending.Input.Timesteps[bad / Info.SampleSize]}; " +
                "its inputs were finite, so the model or its export is at fault."));
        pending.Registration.Dispose();
    }

    public async ValueTask DisposeAsync()
    {
        _stopping.Cancel();
        _queue.Writer.TryComplete();
        await _loop;
        _stopping.Dispose();
    }

    private sealed class Pending(DenoiseInput input, int rows)
    {
        public DenoiseInput Input { get; } = input;
        /// <summary>Rows this call adds to a run: its batch, twice when guided (conditional + null class).</summary>
        public int Rows { get; } = rows;
        public long Enqueued { get; } = Stopwatch.GetTimestamp();
        public TaskCompletionSource<float[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
        public Activity? Span { get; set; }
    }
}
