namespace TStitch.Quality;

/// <summary>One point of the T-Stitch curve: quality at a small-model fraction and its compute bound.</summary>
public sealed record SweepPoint(double SmallFraction, int SmallSteps, QualityReport Quality, double RelativeCompute)
{
    /// <summary>1 / ((1 - r) + r c): the speedup a perfectly efficient server would get.</summary>
    public double SpeedupBound => 1 / RelativeCompute;
}
