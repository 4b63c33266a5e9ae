namespace TStitch.Quality;

/// <summary>How generated images score against the held-out reference set (see <see cref="FidProxy"/>).</summary>
public sealed record QualityReport(double FrechetDistance, double Precision, double Recall, double ClassAccuracy);
