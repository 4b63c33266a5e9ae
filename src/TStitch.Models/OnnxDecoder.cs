using System.Numerics.Tensors;
using Microsoft.ML.OnnxRuntime;

namespace TStitch.Models;

/// <summary>
/// Latents -> images with an exported VAE decoder (ONNX + <see cref="DecoderManifest"/>), in
/// process. Takes the latents a sampler ends with (scaled, as the denoiser sees them) and returns
/// [B, 3, H*f, W*f] images in [-1, 1].
/// </summary>
public sealed class OnnxDecoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly CpuPinning? _pinning;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    public DecoderManifest Manifest { get; }

    public OnnxDecoder(string manifestPath, OnnxSessionOptions? options = null)
    {
        options ??= new OnnxSessionOptions();
        Manifest = DecoderManifest.Load(manifestPath);
        _pinning = options.Pinning;
        _session = options.CreateSession(manifestPath, Manifest.Onnx);
        _inputNames = [Manifest.Io.Latents];
        _outputNames = [Manifest.Io.Output];
    }

    /// <summary>
    /// Decodes <paramref name="batch"/> latents laid out [B, C, H, W]; returns [B, 3, H*f, W*f] in [-1, 1]. Cancelling
    /// stops the run inside ONNX Runtime (a VAE at 512 px runs for seconds on a CPU).
    /// </summary>
    public float[] Decode(float[] latents, int batch, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(latents);
        ArgumentOutOfRangeException.ThrowIfLessThan(batch, 1);
        var m = Manifest;
        if (latents.Length != batch * m.LatentSize)
            throw new ArgumentException($"latents has {latents.Length} values; decoder '{m.Name}' expects {batch} x {string.Join(" x ",
                m.LatentShape)} = {batch * m.LatentSize}.", nameof(latents));
        var input = latents;
        if (!m.ScaleInGraph)
        {
            // The graph wants the VAE's own latent scale; samplers produce latents times ScaleFactor.
            input = new float[latents.Length];
            TensorPrimitives.Multiply(latents, (float)(1.0 / m.ScaleFactor), input);
        }
        var image = new float[batch * m.ImageSize];
        using var z = OrtValue.CreateTensorValueFromMemory(input, [batch, m.LatentShape[0], m.LatentShape[1], m.LatentShape[2]]);
        using var result = OrtValue.CreateTensorValueFromMemory(image, [batch, m.ImageShape[0], m.ImageShape[1], m.ImageShape[2]]);
        using var runOptions = new RunOptions { LogId = m.Name };
        using var registration = cancellationToken.Register(() => runOptions.Terminate = true);
        try
        {
            using (CpuPinning.PinCaller(_pinning))
                _session.Run(runOptions, _inputNames, [z], _outputNames, [result]);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        // Our exports clamp in the graph (a no-op here); decoders exported elsewhere often do not, and
        // callers rely on the [-1, 1] range when they map to bytes.
        TensorPrimitives.Clamp(image, -1f, 1f, image);
        return image;
    }

    public void Dispose() => _session.Dispose();
}
