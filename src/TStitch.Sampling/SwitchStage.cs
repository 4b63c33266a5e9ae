namespace TStitch.Sampling;

/// <summary>One stage of a stitched trajectory: a model and the fraction of the steps it runs.</summary>
public sealed record SwitchStage(string ModelId, double Fraction);
