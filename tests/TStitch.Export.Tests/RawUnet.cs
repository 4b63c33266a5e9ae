using System.Text.Json.Nodes;
using Microsoft.ML.OnnxRuntime;

namespace TStitch.Export.Tests;

/// <summary>
/// A UNet exported by tools/export/export_unet.py, run through a raw ONNX Runtime session with the tensor names
/// its manifest gives. Not OnnxDenoiser: that one does not take text conditioning in this branch.
/// </summary>
public sealed class RawUnet : IDisposable
{
    private readonly InferenceSession _session;
    private readonly string _sample, _timestep, _context, _output;

    public JsonObject Manifest { get; }
    public int[] LatentShape { get; }
    public int Tokens { get; }
    public int Width { get; }
    public int LatentSize => LatentShape[0] * LatentShape[1] * LatentShape[2];

    public RawUnet(string manifestPath)
    {
        Manifest = ManifestJson.Read(manifestPath);
        var io = Manifest["io"]!;
        (_sample, _timestep, _context, _output) =
            ((string)io["latents"]!, (string)io["timesteps"]!, (string)io["context"]!, (string)io["output"]!);
        LatentShape = Manifest["latentShape"]!.AsArray().Select(d => (int)d!).ToArray();
        Tokens = (int)Manifest["conditioning"]!["tokens"]!;
        Width = (int)Manifest["conditioning"]!["width"]!;
        _session = new InferenceSession(Path.Combine(Path.GetDirectoryName(manifestPath)!, (string)Manifest["onnx"]!));
    }

    /// <summary>One run over <c>t.Length</c> rows: latents [N, C, H, W], timesteps [N], context [N, tokens, width]
    /// -> epsilon [N, C, H, W].</summary>
    public float[] Run(float[] latents, long[] t, float[] context)
    {
        long n = t.Length;
        using var xs = OrtValue.CreateTensorValueFromMemory(latents, [n, LatentShape[0], LatentShape[1], LatentShape[2]]);
        using var ts = OrtValue.CreateTensorValueFromMemory(t, [n]);
        using var cs = OrtValue.CreateTensorValueFromMemory(context, [n, Tokens, Width]);
        using var outputs = _session.Run(new RunOptions(), [_sample, _timestep, _context], [xs, ts, cs], [_output]);
        Assert.Equal([n, LatentShape[0], LatentShape[1], LatentShape[2]], outputs[0].GetTensorTypeAndShape().Shape);
        return outputs[0].GetTensorDataAsSpan<float>().ToArray();
    }

    public void Dispose() => _session.Dispose();
}
