using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;

namespace TStitch.Export.Tests;

/// <summary>A CLIP text encoder exported by tools/export/export_text_encoder.py, run through a raw ONNX Runtime session.</summary>
public sealed class RawTextEncoder : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _tokens, _output;

    public JsonObject Manifest { get; }
    public int MaxTokens { get; }
    public int Width { get; }

    public RawTextEncoder(string manifestPath)
    {
        Manifest = ManifestJson.Read(manifestPath);
        (_tokens, _output) = ((string)Manifest["io"]!["tokens"]!, (string)Manifest["io"]!["output"]!);
        MaxTokens = (int)Manifest["maxTokens"]!;
        Width = (int)Manifest["width"]!;
        _session = new InferenceSession(Path.Combine(Path.GetDirectoryName(manifestPath)!, (string)Manifest["onnx"]!));
    }

    /// <summary>Token id rows [N, maxTokens] -> last_hidden_state [N, maxTokens, width].</summary>
    public float[] Run(long[] ids)
    {
        long n = ids.Length / MaxTokens;
        using var input = OrtValue.CreateTensorValueFromMemory(ids, [n, MaxTokens]);
        using var outputs = _session.Run(new RunOptions(), [_tokens], [input], [_output]);
        Assert.Equal([n, MaxTokens, Width], outputs[0].GetTensorTypeAndShape().Shape);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
