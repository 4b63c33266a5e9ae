namespace TStitch.Orchestration.Frontier;

/// <summary>The Pareto front of (FD, latency), both lower-is-better.</summary>
public static class ParetoFront
{
    /// <summary>The points with <see cref="FrontierPoint.Pareto"/> set to whether they are on the front.</summary>
    public static List<FrontierPoint> Mark(IEnumerable<FrontierPoint> points)
    {
        var list = points.ToList();
        return list.Select(p => p with { Pareto = !list.Any(q => Dominates(q, p)) }).ToList();
    }

    public static bool Dominates(FrontierPoint a, FrontierPoint b) =>
        a.Fd <= b.Fd && a.LatencyMsPerImage <= b.LatencyMsPerImage && (a.Fd < b.Fd || a.LatencyMsPerImage < b.LatencyMsPerImage);
}
