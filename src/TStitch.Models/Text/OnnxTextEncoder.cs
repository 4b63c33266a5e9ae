using Microsoft.ML.OnnxRuntime;
using Microsoft.ML.OnnxRuntime.Tensors;
using TStitch.Sampling;

namespace TStitch.Models.Text;

/// <summary>
/// Prompts -> CLIP text embeddings in process: a <see cref="TextEncoderManifest"/>, its
/// <see cref="ClipTokenizer"/> and its ONNX graph (input_ids [N, L] int64 -> last_hidden_state
/// [N, L, D] float32). One ORT run per call for the whole batch; safe for concurrent calls.
/// </summary>
public sealed class OnnxTextEncoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly CpuPinning? _pinning;
    private readonly string[] _inputNames;
    private readonly string[] _outputNames;

    public TextEncoderManifest Manifest { get; }
    public ClipTokenizer Tokenizer { get; }
    /// <summary>L: tokens per prompt row.</summary>
    public int MaxTokens => Manifest.MaxTokens;
    /// <summary>D: width of one token's embedding.</summary>
    public int Width => Manifest.Width;

    public OnnxTextEncoder(string manifestPath, OnnxSessionOptions? options = null)
    {
        options ??= new OnnxSessionOptions();
        Manifest = TextEncoderManifest.Load(manifestPath);
        Tokenizer = ClipTokenizer.FromManifest(Manifest, manifestPath);
        _pinning = options.Pinning;
        _session = options.CreateSession(manifestPath, Manifest.Onnx);
        try
        {
            CheckGraph(TextEncoderManifest.Resolve(manifestPath, Manifest.Onnx));
        }
        catch
        {
            _session.Dispose();
            throw;
        }
        _inputNames = [Manifest.Io.Tokens];
        _outputNames = [Manifest.Io.Output];
    }

    /// <summary>
    /// Embeddings of <paramref name="prompts"/>, laid out [N, <see cref="MaxTokens"/>, <see cref="Width"/>].
    /// A prompt over the token limit throws <see cref="InvalidRequestException"/> for "<paramref name="field"/>[i]"
    /// (before anything runs), with its token count.
    /// </summary>
    public float[] Encode(IReadOnlyList<string> prompts, string field = "prompts", CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(prompts);
        if (prompts.Count == 0) throw new ArgumentException("No prompts to encode.", nameof(prompts));
        int n = prompts.Count, l = MaxTokens, d = Width;
        var tokens = new long[n * l];
        for (int i = 0; i < n; i++)
            Tokenizer.Encode(prompts[i], tokens.AsSpan(i * l, l), $"{field}[{i}]");
        cancellationToken.ThrowIfCancellationRequested();
        using var runOptions = new RunOptions { LogId = Manifest.Name };
        using var registration = cancellationToken.Register(() => runOptions.Terminate = true);
        using var input = OrtValue.CreateTensorValueFromMemory(tokens, [n, l]);
        IDisposableReadOnlyCollection<OrtValue> results;
        try
        {
            using (CpuPinning.PinCaller(_pinning))
                results = _session.Run(runOptions, _inputNames, [input], _outputNames);
        }
        catch (OnnxRuntimeException) when (cancellationToken.IsCancellationRequested)
        {
            throw new OperationCanceledException(cancellationToken);
        }
        // ORT allocates the output (a copy of N x L x D floats, small next to the run) so that its shape
        // can be checked: a graph whose axes are not all declared passes the load-time check, and a
        // buffer of the manifest's shape would fail inside ORT without saying which manifest field is wrong.
        using (results)
        {
            var shape = results[0].GetTensorTypeAndShape().Shape;
            if (!shape.SequenceEqual([n, l, d]))
                throw new InvalidDataException($"Text encoder '{Manifest.Name}': output '{Manifest.Io.Output}' came out " +
                    $"[{string.Join(", ", shape)}]; the manifest says [N, maxTokens, width] = [{n}, {l}, {d}].");
            return results[0].GetTensorDataAsSpan<float>().ToArray();
        }
    }

    /// <summary>
    /// The graph's declared input and output agree with the manifest (names, types, and every axis that
    /// is not dynamic), so a wrong manifest fails at load with a message saying which field, rather than
    /// at the first request inside ONNX Runtime.
    /// </summary>
    private void CheckGraph(string onnxPath)
    {
        var m = Manifest;
        var input = Metadata(_session.InputMetadata, onnxPath, "input", m.Io.Tokens, "io.tokens");
        if (input.ElementDataType != TensorElementType.Int64)
            throw new InvalidDataException($"{onnxPath}: input '{m.Io.Tokens}' holds {input.ElementDataType}; token ids must be int64.");
        CheckDims(onnxPath, "input", m.Io.Tokens, input.Dimensions, [-1, m.MaxTokens], "[N, maxTokens]");
        var output = Metadata(_session.OutputMetadata, onnxPath, "output", m.Io.Output, "io.output");
        if (output.ElementDataType != TensorElementType.Float)
            throw new InvalidDataException($"{onnxPath}: output '{m.Io.Output}' holds {output.ElementDataType}, not float32.");
        CheckDims(onnxPath, "output", m.Io.Output, output.Dimensions, [-1, m.MaxTokens, m.Width], "[N, maxTokens, width]");
    }

    private static NodeMetadata Metadata(IReadOnlyDictionary<string, NodeMetadata> nodes, string onnxPath, string what, string name,
        string field) =>
        nodes.TryGetValue(name, out var node) && node.IsTensor
            ? node
            : throw new InvalidDataException($"{onnxPath}: has no {what} tensor '{name}' (it has: {string.Join(", ", nodes.Keys)}); " +
                $"set {field} in the manifest.");

    /// <summary>Declared axes must be the expected sizes; -1 (dynamic) in either is not checked here.</summary>
    private static void CheckDims(string onnxPath, string what, string name, int[] declared, int[] expected, string layout)
    {
        bool agrees = declared.Length == expected.Length &&
                      declared.Zip(expected).All(p => p.First < 1 || p.Second < 1 || p.First == p.Second);
        if (!agrees)
            throw new InvalidDataException($"{onnxPath}: {what} '{name}' is declared [{string.Join(", ", declared.Select(Dim))}]; " +
                $"the manifest says {layout} = [{string.Join(", ", expected.Select(Dim))}].");
    }

    private static string Dim(int d) => d < 1 ? "?" : d.ToString(System.Globalization.CultureInfo.InvariantCulture);

    public void Dispose() => _session.Dispose();
}
