namespace TStitch.Hosting.Errors;

/// <summary>
/// Why something failed, in the services' own terms: what a job record stores and what
/// <see cref="ErrorTable"/> turns into a gRPC status. Nothing in the domain speaks gRPC.
/// </summary>
public enum FailureKind
{
    None = 0,
    /// <summary>The caller's request breaks a rule; the message names the field.</summary>
    InvalidRequest,
    NotFound,
    /// <summary>A denoiser pool (every replica of it) cannot be reached.</summary>
    PoolUnavailable,
    /// <summary>A queue is full: back off and retry, or scale out.</summary>
    Overloaded,
    /// <summary>This process is stopping; the same call elsewhere (or later) succeeds.</summary>
    ShuttingDown,
    /// <summary>The job is run by another orchestrator now; the same call again follows it there.</summary>
    Moved,
    /// <summary>The job store (Redis) cannot be reached.</summary>
    StoreUnavailable,
    Cancelled,
    /// <summary>The caller went away (disconnect, its own cancellation) without asking to cancel the job.</summary>
    CallerLeft,
    DeadlineExceeded,
    Unauthenticated,
    /// <summary>A bug or an unexpected state; logged with its stack.</summary>
    Internal,
}
