namespace TStitch.Sampling;

/// <summary>What a denoiser predicts. All three are linear in x_t, so guidance can mix raw outputs.</summary>
public enum PredictionKind { Epsilon, V, X0 }

public static class Prediction
{
    /// <summary>
    /// Converts a model output at alpha_bar <paramref name="alphaBar"/> into (eps, x0), the pair every
    /// sampler works from (see <see cref="PredictionConverter"/>, which samplers use a value at a time).
    /// </summary>
    public static void ToEpsilonAndX0(PredictionKind kind, double alphaBar, ReadOnlySpan<float> x, ReadOnlySpan<float> output,
        Span<double> eps, Span<double> x0)
    {
        var convert = new PredictionConverter(kind, alphaBar);
        for (int i = 0; i < x.Length; i++) convert.ToEpsilonAndX0(x[i], output[i], out eps[i], out x0[i]);
    }

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
