namespace TStitch.Orchestration;

/// <summary>Why a running job was stopped: each ends differently in the store.</summary>
public enum StopReason { None, ClientCancelled, DeadlineExceeded, Shutdown, LeaseLost }

/// <summary>
/// A job this orchestrator is executing: its cancellation, its completion and the callers waiting
/// on it. A caller that goes away (cancel, deadline) stops the job only if it was the last one
/// waiting, so one impatient client of a shared job id cannot kill it for the others.
/// </summary>
public sealed class RunningJob(string id, CancellationTokenSource cancellation)
{
    private int _stopReason;
    private int _waiters;

    public string Id { get; } = id;
    public CancellationTokenSource Cancellation { get; } = cancellation;
    public StopReason StopReason => (StopReason)Volatile.Read(ref _stopReason);
    public Task<JobRecord> Completion { get; internal set; } = Task.FromResult<JobRecord>(null!);

    public void Stop(StopReason reason)
    {
        Interlocked.CompareExchange(ref _stopReason, (int)reason, (int)StopReason.None);
        try { Cancellation.Cancel(); }
        catch (ObjectDisposedException) { } // the job has already finished
    }

    /// <summary>Registers a waiting caller; dispose the result with the reason it stopped waiting, if any.</summary>
    public Waiter Attach()
    {
        Interlocked.Increment(ref _waiters);
        return new Waiter(this);
    }

    public sealed class Waiter(RunningJob job) : IDisposable
    {
        private int _left;

        /// <summary>The caller gave up: the job stops if nobody else is waiting for it.</summary>
        public void Leave(StopReason reason)
        {
            if (Interlocked.Exchange(ref _left, 1) == 0 && Interlocked.Decrement(ref job._waiters) == 0) job.Stop(reason);
        }

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _left, 1) == 0) Interlocked.Decrement(ref job._waiters);
        }
    }
}
