using System.Diagnostics;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>A call waiting in a <see cref="DynamicBatcher"/>'s queue for its share of a model run.</summary>
internal sealed class QueuedCall(DenoiseInput input, int rows, Activity? span, bool enlisted)
{
    public DenoiseInput Input { get; } = input;
    /// <summary>From an enlisted stage run (<see cref="DynamicBatcher.Enlist"/>).</summary>
    public bool Enlisted { get; } = enlisted;
    /// <summary>Rows this call adds to a run: its batch, twice when guided.</summary>
    public int Rows { get; } = rows;
    public Activity? Span { get; } = span;
    public long Enqueued { get; } = Stopwatch.GetTimestamp();
    public TaskCompletionSource<float[]> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    public CancellationTokenRegistration Registration { get; set; }
}
