using Microsoft.ML.OnnxRuntime;
using TStitch.Models.Onnx;
using DataType = TStitch.Models.Onnx.TensorProto.Types.DataType;

namespace TStitch.Quality;

/// <summary>
/// A fixed random convolutional feature extractor: a stand-in for Inception in FID, cheap enough to
/// run on CPU. Random (untrained) conv+ReLU features still separate image distributions well, and
/// seeding makes scores comparable across runs and machines.
/// </summary>
public sealed class FeatureNet : IDisposable
{
    public const int Channels = 3;
    public const int Size = 32;
    public const int ImageLength = Channels * Size * Size;
    public const int FeatureLength = 2 * Conv2Out;

    private const int Conv1Out = 32;
    private const int Conv2Out = 64;
    private const int ChunkSize = 256;
    private const string InputName = "images";
    private const string OutputName = "features";

    private readonly InferenceSession _session;
    private readonly RunOptions _runOptions = new();
    private readonly string[] _inputNames = [InputName];
    private readonly string[] _outputNames = [OutputName];

    public int Seed { get; }

    public FeatureNet(int seed = 123, int intraOpThreads = 0)
    {
        Seed = seed;
        using var options = new SessionOptions { IntraOpNumThreads = intraOpThreads };
        _session = new InferenceSession(BuildModel(seed), options);
    }

    /// <summary>Features for <paramref name="count"/> NCHW images, one 128-vector per image.</summary>
    public double[][] Extract(ReadOnlySpan<float> images, int count)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        if (images.Length < (long)count * ImageLength)
            throw new ArgumentException($"Expected {count} x {ImageLength} floats, got {images.Length}.", nameof(images));

        var result = new double[count][];
        // ORT wraps managed memory without copying, so each chunk needs an array we can pin;
        // chunking bounds that copy and the activation memory for large sets.
        var buffer = new float[Math.Min(count, ChunkSize) * ImageLength];
        for (int start = 0; start < count; start += ChunkSize)
        {
            int n = Math.Min(ChunkSize, count - start);
            images.Slice(start * ImageLength, n * ImageLength).CopyTo(buffer);
            using var input = OrtValue.CreateTensorValueFromMemory(
                OrtMemoryInfo.DefaultInstance, buffer.AsMemory(0, n * ImageLength), [n, Channels, Size, Size]);
            using var outputs = _session.Run(_runOptions, _inputNames, [input], _outputNames);
            var feats = outputs[0].GetTensorDataAsSpan<float>();
            for (int i = 0; i < n; i++)
            {
                var row = new double[FeatureLength];
                var src = feats.Slice(i * FeatureLength, FeatureLength);
                for (int j = 0; j < FeatureLength; j++) row[j] = src[j];
                result[start + i] = row;
            }
        }
        return result;
    }

    public void Dispose()
    {
        _session.Dispose();
        _runOptions.Dispose();
    }

    internal static byte[] BuildModel(int seed)
    {
        // System.Random(int) is a fixed legacy algorithm, so a seed yields the same weights everywhere.
        var rng = new Random(seed);
        var g = new GraphBuilder("feature_net");
        g.AddInput(InputName, DataType.Float, "N", Channels, Size, Size);

        var w1 = g.Constant("w1", Gaussian(rng, Conv1Out * Channels * 4 * 4, 1 / Math.Sqrt(Channels * 4 * 4)), Conv1Out, Channels, 4, 4);
        var b1 = g.Constant("b1", Gaussian(rng, Conv1Out, 0.1), Conv1Out);
        // A 3x3 box blur first: generated samples carry pixel noise real images lack, and the metric
        // should judge shapes, not white noise (Inception's resize plays the same role in FID).
        var blurred = g.Op("AveragePool", [InputName], GraphBuilder.Attr("kernel_shape", 3, 3), GraphBuilder.Attr("pads", 1, 1, 1, 1));
        var h1 = g.Op("Conv", [blurred, w1, b1], GraphBuilder.Attr("kernel_shape", 4, 4), GraphBuilder.Attr("strides", 2, 2));
        var a1 = g.Op("Relu", [h1]);

        var w2 = g.Constant("w2", Gaussian(rng, Conv2Out * Conv1Out * 3 * 3, 1 / Math.Sqrt(Conv1Out * 3 * 3)), Conv2Out, Conv1Out, 3, 3);
        var b2 = g.Constant("b2", Gaussian(rng, Conv2Out, 0.1), Conv2Out);
        var h2 = g.Op("Conv", [a1, w2, b2], GraphBuilder.Attr("kernel_shape", 3, 3), GraphBuilder.Attr("strides", 2, 2));
        var a2 = g.Op("Relu", [h2]);

        // Opset 17 still takes Reduce* axes as an attribute (only ReduceSum moved to an input).
        var axes = GraphBuilder.Attr("axes", 2L, 3L);
        var noKeep = GraphBuilder.Attr("keepdims", 0L);
        var mean = g.Op("ReduceMean", [a2], axes, noKeep);
        var max = g.Op("ReduceMax", [a2], axes, noKeep);
        g.OpNamed("Concat", OutputName, [mean, max], GraphBuilder.Attr("axis", 1L));
        g.AddOutput(OutputName, DataType.Float, "N", FeatureLength);
        return g.ToModelBytes(metadata: new Dictionary<string, string> { ["seed"] = seed.ToString() });
    }

    private static float[] Gaussian(Random rng, int length, double scale)
    {
        var values = new float[length];
        for (int i = 0; i < length; i += 2)
        {
            // Box-Muller; 1 - NextDouble() keeps the log argument in (0, 1].
            double r = Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble()));
            double theta = 2 * Math.PI * rng.NextDouble();
            values[i] = (float)(scale * r * Math.Cos(theta));
            if (i + 1 < length) values[i + 1] = (float)(scale * r * Math.Sin(theta));
        }
        return values;
    }
}
