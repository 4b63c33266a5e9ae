using System.Numerics.Tensors;

namespace TStitch.Sampling;

/// <summary>
/// The one finiteness check for tensors that cross a trust boundary (requests, checkpoints, model
/// outputs). It runs on every step over the whole latent batch, so it is one SIMD pass: a NaN or an
/// infinity makes the sum non-finite, and a finite sum proves there is none; only then is the first bad
/// index looked for (a sum can also overflow on finite values, which the second pass tells apart).
/// </summary>
public static class FiniteValues
{
    /// <summary>Index of the first NaN or infinity in <paramref name="values"/>, or -1 when all are finite.</summary>
    public static int FirstNonFinite(ReadOnlySpan<float> values)
    {
        if (float.IsFinite(TensorPrimitives.Sum(values))) return -1;
        for (int k = 0; k < values.Length; k++)
            if (!float.IsFinite(values[k])) return k;
        return -1;
    }

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming <paramref name="field"/> and the first bad value.</summary>
    public static void Require(ReadOnlySpan<float> values, string field, string what)
    {
        int bad = FirstNonFinite(values);
        if (bad >= 0) throw new InvalidRequestException(field, $"{field}[{bad}] is {values[bad]}; {what} must be finite.");
    }
}
