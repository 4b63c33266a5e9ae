namespace TStitch.Export.Tests;

public static class Parity
{
    /// <summary>ORT against PyTorch, both fp32 on CPU: kernels differ (fused attention, GELU), so exact equality is not expected.</summary>
    public const float Tolerance = 1e-4f;

    /// <summary>Asserts every element is within <paramref name="tolerance"/>, reporting the worst one
    /// (one assertion, not thousands).</summary>
    public static void AssertClose(ReadOnlySpan<float> expected, ReadOnlySpan<float> actual, float tolerance = Tolerance,
        string what = "output")
    {
        Assert.Equal(expected.Length, actual.Length);
        int worst = -1;
        float worstDiff = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            float d = MathF.Abs(expected[i] - actual[i]);
            if (!(d <= worstDiff)) { worstDiff = d; worst = i; }  // !(<=) also catches NaN
        }
        Assert.True(worst < 0 || worstDiff <= tolerance,
            $"{what}: element {worst} differs by {worstDiff:g4} (PyTorch {(worst >= 0 ? expected[worst] : 0):g6}, " +
            $"ORT {(worst >= 0 ? actual[worst] : 0):g6}); tolerance {tolerance:g}.");
    }

    /// <summary>Rows of a [B, 2C, H, W] learned-sigma tensor cut down to their first C channels.</summary>
    public static float[] FirstHalfChannels(float[] output, int batch)
    {
        int row = output.Length / batch, half = row / 2;
        var result = new float[batch * half];
        for (int b = 0; b < batch; b++)
            Array.Copy(output, b * row, result, b * half, half);
        return result;
    }
}
