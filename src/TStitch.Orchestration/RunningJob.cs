using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>
/// A job this orchestrator is executing: its cancellation, its completion, its live progress and the
/// callers following it. A caller that goes away stops the job only if it was the last one waiting,
/// so one impatient client of a shared job id cannot stop it for the others; a caller that attaches
/// while it runs gets progress from then on.
/// </summary>
public sealed class RunningJob(string id)
{
    public delegate ValueTask ProgressHandler(StepProgress progress);

    private readonly List<ProgressHandler> _listeners = [];
    private int _stopReason;
    private readonly Lock _waitersLock = new();
    private int _waiters;
    private int _step;

    public string Id { get; } = id;
    public CancellationTokenSource Cancellation { get; } = new();
    public StopReason StopReason => (StopReason)Volatile.Read(ref _stopReason);
    public Task<JobRecord> Completion { get; internal set; } = Task.FromResult<JobRecord>(null!);
    /// <summary>Steps completed so far (the store only has the last checkpoint's).</summary>
    public int Step => Volatile.Read(ref _step);
    /// <summary>Since when this job's checkpoint writes have failed because the store is unreachable (null: they succeed).</summary>
    public DateTimeOffset? StoreOutageSince { get; set; }
    /// <summary>
    /// The last checkpoint write started behind the run (<see cref="JobCheckpoints.SaveBehind"/>); later writes wait for it.
    /// </summary>
    internal Task PendingSave { get; set; } = Task.CompletedTask;

    public void Stop(StopReason reason)
    {
        Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None);
        try { Cancellation.Cancel(); }
        catch (ObjectDisposedException) { } // the job has already finished
    }

    /// <summary>
    /// Registers a waiting caller (and its progress listener); dispose it when the caller is done. Null once the job is
    /// stopping: attached then, the caller would be handed a stop that was not its own (the last caller before it left).
    /// Checked under the lock the last leaving caller stops the job under, so the two cannot cross.
    /// </summary>
    public Waiter? Attach(ProgressHandler? progress)
    {
        lock (_waitersLock)
        {
            if (StopReason != StopReason.None) return null;
            _waiters++;
        }
        if (progress is not null) lock (_listeners) _listeners.Add(progress);
        return new Waiter(this, progress);
    }

    /// <summary>
    /// Hands a step's progress to every listener, in order. A listener that fails (its caller went away)
    /// is dropped; it never fails the job.
    /// </summary>
    public async ValueTask ReportAsync(StepProgress progress)
    {
        Volatile.Write(ref _step, progress.Step);
        ProgressHandler[] listeners;
        lock (_listeners) listeners = [.. _listeners];
        foreach (var listener in listeners)
        {
            try { await listener(progress); }
            catch (Exception)
            {
                lock (_listeners) _listeners.Remove(listener);
            }
        }
    }

    public sealed class Waiter(RunningJob job, ProgressHandler? progress) : IDisposable
    {
        private int _left;

        public RunningJob Job => job;

        /// <summary>The caller gave up: the job stops if nobody else is waiting for it.</summary>
        public void Leave(StopReason reason)
        {
            if (Interlocked.Exchange(ref _left, 1) != 0) return;
            Detach();
            lock (job._waitersLock)
                if (--job._waiters == 0) job.Stop(reason);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) != 0) return;
            Detach();
            lock (job._waitersLock) job._waiters--;
        }

        private void Detach()
        {
            if (progress is not null) lock (job._listeners) job._listeners.Remove(progress);
        }
    }
}
