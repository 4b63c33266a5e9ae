namespace TStitch.Sampling;

/// <summary>What a denoiser predicts. All three are linear in x_t, so guidance can mix raw outputs.</summary>
public enum PredictionKind { Epsilon, V, X0 }

public static class Prediction
{
    /// <summary>
    /// DiT-style "learned sigma" models output 2C channels per sample: the first C are the prediction,
    /// the rest a variance interpolation this project's samplers do not use. Keeps the first C.
    /// </summary>
    public static float[] DropLearnedSigma(ReadOnlySpan<float> output, int batch, int sampleSize)
    {
        if (output.Length != batch * sampleSize * 2)
            throw new ArgumentException($"Learned-sigma output has {output.Length} values, expected {batch} x 2 x {sampleSize}.",
                nameof(output));
        var result = new float[batch * sampleSize];
        for (int b = 0; b < batch; b++)
            output.Slice(b * 2 * sampleSize, sampleSize).CopyTo(result.AsSpan(b * sampleSize));
        return result;
    }
}
