using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>
/// The VAE decoder a replica's model manifest names (<see cref="ModelManifest.Decoder"/>), or none.
/// Loaded with the model at start-up, so a missing or mismatched decoder stops the replica with the
/// loader's message instead of failing every job at its end. Decoding runs once per job, on the
/// pool that ran the last stage, outside the dynamic batcher (it is not a denoising step).
/// </summary>
public sealed class ReplicaDecoder : IDisposable
{
    public OnnxDecoder? Decoder { get; }

    public ReplicaDecoder(OnnxDenoiser model, string modelManifestPath, OnnxSessionOptions sessionOptions)
    {
        if (model.Manifest.DecoderPath(modelManifestPath) is not { } path) return;
        var decoder = new OnnxDecoder(path, sessionOptions);
        var info = model.Info;
        int[] latent = [info.Channels, info.Height, info.Width];
        if (!decoder.Manifest.LatentShape.SequenceEqual(latent))
        {
            decoder.Dispose();
            throw new InvalidDataException($"{modelManifestPath}: decoder '{path}' takes latents [{string.Join(", ",
                decoder.Manifest.LatentShape)}], " +
                                           $"but model '{info.Name}' makes [{string.Join(", ", latent)}].");
        }
        Decoder = decoder;
    }

    /// <summary>
    /// One decode at a time, as the batcher runs one model run at a time: a decode already uses every core ONNX
    /// Runtime was given, so two at once would only share them, each slower, holding twice the activations.
    /// </summary>
    private readonly SemaphoreSlim _oneAtATime = new(1, 1);

    /// <summary>
    /// Latents [B, C, H, W] -> images [B, 3, H', W'] in [-1, 1], off the caller's thread (a long, synchronous run). A
    /// caller that goes away stops its decode, waiting or running.
    /// </summary>
    public async Task<float[]> DecodeAsync(float[] latents, int batch, CancellationToken cancellationToken)
    {
        var decoder = Decoder ?? throw new InvalidRequestException("latents",
            "This pool's model has no decoder (its manifest names none); ask for raw output instead.");
        await _oneAtATime.WaitAsync(cancellationToken);
        try { return await Task.Run(() => decoder.Decode(latents, batch, cancellationToken), cancellationToken); }
        finally { _oneAtATime.Release(); }
    }

    /// <summary>
    /// Waits for a decode in flight (a request that outlived the host's shutdown) before the session goes; the gate is
    /// taken for good and not disposed, so that decode's release still works.
    /// </summary>
    public void Dispose()
    {
        _oneAtATime.Wait();
        Decoder?.Dispose();
    }
}
