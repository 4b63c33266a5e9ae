using Microsoft.ML.OnnxRuntime;
using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>
/// An <see cref="IDenoiser"/> running an ONNX model in process. One InferenceSession per model,
/// created once (ORT sessions are safe for concurrent Run); inputs wrap the managed arrays without a
/// copy and the output is written straight into a managed buffer of its size, reused once the caller
/// hands it back (<see cref="Recycle"/>).
/// </summary>
public sealed class OnnxDenoiser : IDenoiser, IModelRunner, IDisposable
{
    private readonly InferenceSession _session;
    private readonly CpuPinning? _pinning;
    private readonly ModelManifest _manifest;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;
    private readonly FloatBuffers _outputs = new();
    private long _runs;

    public DenoiserInfo Info { get; }
    public ModelManifest Manifest => _manifest;
    /// <summary>ONNX Runtime runs so far (one per batch, two halves of a guided batch run together).</summary>
    public long Runs => Interlocked.Read(ref _runs);

    public OnnxDenoiser(string manifestPath, OnnxSessionOptions? options = null)
    {
        options ??= new OnnxSessionOptions();
        _manifest = ModelManifest.Load(manifestPath);
        Info = _manifest.ToInfo();
        _pinning = options.Pinning;
        _session = options.CreateSession(manifestPath, _manifest.Onnx);
        _inputNames =
            [_manifest.Io.Latents, _manifest.Io.Timesteps, Info.ConditionedOnText ? _manifest.Io.Context : _manifest.Io.ClassLabels];
        _outputNames = [_manifest.Io.Output];
    }

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        input.Validate(Info);
        cancellationToken.ThrowIfCancellationRequested();
        if (!Guidance.IsNeeded(input.GuidanceScale))
            return Task.FromResult(Run(input, cancellationToken));
        var both = Run(Guidance.WithUnconditionalHalf(input, Info.NullClassId), cancellationToken);
        var guided = Guidance.Combine(both, input.GuidanceScale);
        Recycle(both);
        return Task.FromResult(guided);
    }

    public void Recycle(float[] output) => _outputs.Return(output);

    /// <summary>One ORT run over the rows as given (no validation, no guidance); returns the C-channel prediction.</summary>
    public float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default)
    {
        int b = rows.Batch, c = Info.Channels, h = Info.Height, w = Info.Width;
        int outChannels = _manifest.LearnedSigma ? 2 * c : c;
        var output = _outputs.Take(b * outChannels * h * w);
        using var runOptions = new RunOptions { LogId = _manifest.Name };
        using var registration = cancellationToken.Register(() => runOptions.Terminate = true);
        using var latents = OrtValue.CreateTensorValueFromMemory(rows.Latents, [b, c, h, w]);
        using var timesteps = _manifest.TimestepType == "float32"
            ? OrtValue.CreateTensorValueFromMemory(rows.Timesteps.Select(t => (float)t).ToArray(), [b])
            : OrtValue.CreateTensorValueFromMemory(rows.Timesteps.Select(t => (long)t).ToArray(), [b]);
        using var conditioning = Info.Text is { } text
            ? OrtValue.CreateTensorValueFromMemory(rows.Context!, [b, text.Tokens, text.Width])
            : OrtValue.CreateTensorValueFromMemory(rows.ClassLabels.Select(y => (long)y).ToArray(), [b]);
        using var result = OrtValue.CreateTensorValueFromMemory(output, [b, outChannels, h, w]);
        try
        {
            using (CpuPinning.PinCaller(_pinning))
                _session.Run(runOptions, _inputNames, [latents, timesteps, conditioning], _outputNames, [result]);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        Interlocked.Increment(ref _runs);
        if (!_manifest.LearnedSigma) return output;
        var prediction = Prediction.DropLearnedSigma(output, b, Info.SampleSize);
        Recycle(output);
        return prediction;
    }

    public void Dispose() => _session.Dispose();
}
