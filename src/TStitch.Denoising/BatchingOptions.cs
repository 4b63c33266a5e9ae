namespace TStitch.Denoising;

/// <summary>
/// How a <see cref="DynamicBatcher"/> forms runs: most rows per run, longest wait for more calls, queue
/// bound, and how long a run may wait for the stage runs enlisted on the replica (<see cref="DynamicBatcher.Enlist"/>)
/// whose next step has not arrived yet (zero: never wait for them).
/// </summary>
public sealed record BatchingOptions(int MaxRows, TimeSpan MaxDelay, int QueueCapacity, TimeSpan CohortWait = default);
