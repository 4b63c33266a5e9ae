namespace TStitch.Denoising;

/// <summary>How a <see cref="DynamicBatcher"/> forms runs: most rows per run, longest wait for more calls, queue bound.</summary>
public sealed record BatchingOptions(int MaxRows, TimeSpan MaxDelay, int QueueCapacity);
