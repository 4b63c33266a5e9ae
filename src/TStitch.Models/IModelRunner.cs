using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>
/// One model run over rows already validated and expanded for guidance: what a batcher needs from a
/// model, without the per-call validation and guidance an <see cref="IDenoiser"/> call does.
/// </summary>
public interface IModelRunner
{
    DenoiserInfo Info { get; }
    float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default);
}
