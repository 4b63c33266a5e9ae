namespace TStitch.Orchestration;

/// <summary>Why a running job was stopped: each ends differently in the store.</summary>
public enum StopReason
{
    None,
    /// <summary>CancelJob: final.</summary>
    Cancelled,
    /// <summary>Every caller waiting on the job went away; a resubmit resumes it.</summary>
    CallerLeft,
    /// <summary>The waiting caller's deadline passed; a resubmit resumes it.</summary>
    DeadlineExceeded,
    /// <summary>This orchestrator is stopping; the job is released for the next one to resume.</summary>
    Shutdown,
    /// <summary>Another orchestrator owns the job now; this one stops writing it.</summary>
    LeaseLost,
}
