using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>One measured schedule of a <see cref="FrontierProfile"/>.</summary>
public sealed record FrontierPoint
{
    public List<FrontierStage> Stages { get; init; } = [];
    /// <summary>FD-proxy (lower is better; see src/TStitch.Quality).</summary>
    public double Fd { get; init; }
    public double Precision { get; init; }
    public double Recall { get; init; }
    public double ClassAccuracy { get; init; }
    public double LatencyMsPerImage { get; init; }
    /// <summary>On the Pareto front of (FD, latency): no other point is at least as good in both and better in one.</summary>
    public bool Pareto { get; init; }

    public SwitchSchedule Schedule => new(Stages.Select(s => new SwitchStage(s.Pool, s.Fraction)));

    /// <summary>Share of the steps not on <paramref name="largePool"/>: the "r" of a stitched schedule.</summary>
    public double OffLargeFraction(string largePool) => Stages.Where(s => s.Pool != largePool).Sum(s => s.Fraction);

    public override string ToString() => Schedule.ToString();
}

/// <summary>One stage of a profiled schedule (a pool and its share of the steps).</summary>
public sealed record FrontierStage(string Pool, double Fraction);
