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
}
