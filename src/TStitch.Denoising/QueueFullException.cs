using TStitch.Hosting.Errors;

namespace TStitch.Denoising;

/// <summary>The batcher's queue is full: the caller should back off or the pool should scale out.</summary>
public sealed class QueueFullException(string message) : ServiceFailureException(FailureKind.Overloaded, message);
