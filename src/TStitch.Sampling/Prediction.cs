namespace TStitch.Sampling;

/// <summary>What a denoiser predicts. All three are linear in x_t, so guidance can mix raw outputs.</summary>
public enum PredictionKind { Epsilon, V, X0 }

public static class Prediction
{
    /// <summary>
    /// Converts a model output at alpha_bar <paramref name="alphaBar"/> into (eps, x0), the pair every
    /// sampler works from. x_t = sqrt(a) x0 + sqrt(1-a) eps; v = sqrt(a) eps - sqrt(1-a) x0.
    /// </summary>
    public static void ToEpsilonAndX0(PredictionKind kind, double alphaBar, ReadOnlySpan<float> x, ReadOnlySpan<float> output,
        Span<double> eps, Span<double> x0)
    {
        double sa = Math.Sqrt(alphaBar), s1a = Math.Sqrt(1 - alphaBar);
        for (int i = 0; i < x.Length; i++)
        {
            double xt = x[i], o = output[i];
            switch (kind)
            {
                case PredictionKind.Epsilon: eps[i] = o; x0[i] = (xt - s1a * o) / sa; break;
                case PredictionKind.X0: x0[i] = o; eps[i] = (xt - sa * o) / s1a; break;
                default: x0[i] = sa * xt - s1a * o; eps[i] = s1a * xt + sa * o; break;
            }
        }
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
