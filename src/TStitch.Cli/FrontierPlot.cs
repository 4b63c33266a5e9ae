using ScottPlot;
using TStitch.Orchestration.Frontier;

namespace TStitch.Cli;

/// <summary>FD against latency per image for a frontier profile: every point labelled with its schedule, the Pareto front joined.</summary>
internal static class FrontierPlot
{
    public static void Save(FrontierProfile profile, string path)
    {
        var plot = new Plot();
        var others = profile.Points.Where(p => !p.Pareto).ToArray();
        if (others.Length > 0)
        {
            var dots = plot.Add.ScatterPoints(others.Select(p => p.LatencyMsPerImage).ToArray(), others.Select(p => p.Fd).ToArray());
            dots.LegendText = "dominated";
            dots.Color = Colors.Gray;
        }
        var front = profile.Front.OrderBy(p => p.LatencyMsPerImage).ToArray();
        var line = plot.Add.Scatter(front.Select(p => p.LatencyMsPerImage).ToArray(), front.Select(p => p.Fd).ToArray());
        line.LegendText = "Pareto front";
        line.MarkerSize = 8;
        foreach (var p in profile.Points)
        {
            var label = plot.Add.Text(p.ToString(), p.LatencyMsPerImage, p.Fd);
            label.LabelFontSize = 10;
            label.LabelFontColor = p.Pareto ? Colors.Black : Colors.Gray;
        }
        plot.Axes.Bottom.Label.Text = $"latency per image (ms, {profile.MeasuredOn}, batch {profile.Batch})";
        plot.Axes.Left.Label.Text = "FD proxy (lower is better)";
        plot.Title($"{profile.Family}: {profile.Samples} samples per point");
        plot.ShowLegend(Alignment.UpperRight);
        plot.SavePng(path, 1000, 620);
    }
}
