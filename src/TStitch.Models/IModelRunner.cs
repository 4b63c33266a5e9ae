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

    /// <summary>
    /// A <see cref="Run"/> output nobody holds any more, for the next run to write into (see
    /// <see cref="IDenoiser.Recycle"/>).
    /// </summary>
    void Recycle(float[] output) { }
}
