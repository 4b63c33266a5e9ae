namespace TStitch.Sampling;

/// <summary>
/// The shape of one sample's text conditioning, [Tokens, Width] (SD v1: CLIP ViT-L/14's 77 x 768),
/// for models conditioned on a text embedding instead of a class label.
/// </summary>
public sealed record EmbeddingShape(int Tokens, int Width)
{
    public int Size => Tokens * Width;

    public override string ToString() => $"{Tokens}x{Width}";
}
