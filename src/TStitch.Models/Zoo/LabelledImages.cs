namespace TStitch.Models.Zoo;

/// <summary>Images (N x 3 x 32 x 32, values in [-1, 1]) with their class labels.</summary>
public sealed record LabelledImages(float[] Pixels, int[] Labels, int Channels, int Size)
{
    public int Count => Labels.Length;
    public int SampleSize => Channels * Size * Size;
    public ReadOnlySpan<float> Image(int i) => Pixels.AsSpan(i * SampleSize, SampleSize);
}
