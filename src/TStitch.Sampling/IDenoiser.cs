namespace TStitch.Sampling;

/// <summary>
/// A denoiser: in process (ONNX Runtime) or remote (a gRPC pool). Output has C channels, guidance
/// applied. Implementations read the input's arrays only until the returned task completes and never
/// change them, so callers may pass their live buffers without copying.
/// </summary>
public interface IDenoiser
{
    DenoiserInfo Info { get; }
    Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default);
}
