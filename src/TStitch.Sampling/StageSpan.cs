namespace TStitch.Sampling;

/// <summary>A stage resolved to sampling steps: <see cref="ModelId"/> runs steps [<see cref="From"/>, <see cref="To"/>).</summary>
public sealed record StageSpan(string ModelId, int From, int To)
{
    public int Steps => To - From;
}
