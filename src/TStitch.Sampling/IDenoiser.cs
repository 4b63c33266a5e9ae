namespace TStitch.Sampling;

/// <summary>
/// A denoiser: in process (ONNX Runtime, or a pool replica's batcher) or remote (a gRPC pool). Output
/// has C channels, guidance applied. Implementations read the input's arrays only until the returned
/// task completes and never change them, so callers may pass their live buffers without copying. The
/// task may complete synchronously (an idle in-process model runs on the caller's thread).
/// </summary>
public interface IDenoiser
{
    DenoiserInfo Info { get; }
    Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default);

    /// <summary>
    /// Hands back an output of <see cref="DenoiseAsync"/> the caller has finished with (a sampler step
    /// consumed it), so a later call may write into it instead of allocating: a batch's output is a
    /// large-object-heap array (196 KB at batch 16 of the zoo), one per step, and that churn costs
    /// full collections. The caller must not touch the array afterwards. Optional: the default drops it.
    /// </summary>
    void Recycle(float[] output) { }
}
