using System.Globalization;
using System.Text.RegularExpressions;

namespace TStitch.Process.Tests.Metrics;

/// <summary>
/// One scrape of a Prometheus text exposition (format 0.0.4): every sample line as name, labels and
/// value. Comments (# HELP / # TYPE) are skipped. Enough for asserting counters and histogram counts;
/// the exporter's own names are used as they are (counters end in _total, histograms in
/// _bucket/_count/_sum, the unit in between: tstitch_orchestrator_job_duration_milliseconds_count).
/// </summary>
public sealed partial class PrometheusText
{
    public sealed record Sample(string Name, IReadOnlyDictionary<string, string> Labels, double Value);

    private PrometheusText(string text, IReadOnlyList<Sample> samples) => (Text, Samples) = (text, samples);

    public string Text { get; }
    public IReadOnlyList<Sample> Samples { get; }

    public static PrometheusText Parse(string text)
    {
        var samples = new List<Sample>();
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#')) continue;
            var m = SampleLine().Match(line);
            if (!m.Success) throw new FormatException($"Not a Prometheus sample line: '{line}'");
            var labels = new Dictionary<string, string>();
            foreach (Match l in Label().Matches(m.Groups["labels"].Value))
                labels[l.Groups["key"].Value] = Regex.Unescape(l.Groups["value"].Value);
            var value = m.Groups["value"].Value switch
            {
                "+Inf" => double.PositiveInfinity, "-Inf" => double.NegativeInfinity, "NaN" => double.NaN,
                var v => double.Parse(v, CultureInfo.InvariantCulture),
            };
            samples.Add(new Sample(m.Groups["name"].Value, labels, value));
        }
        return new PrometheusText(text, samples);
    }

    /// <summary>The sum of <paramref name="name"/>'s samples whose labels include every one of <paramref name="labels"/>
    /// ("key=value"); 0 when there are none.</summary>
    public double Sum(string name, params string[] labels) =>
        Samples.Where(s => s.Name == name
                && labels.All(l => s.Labels.TryGetValue(l[..l.IndexOf('=')], out var v) && v == l[(l.IndexOf('=') + 1)..]))
            .Sum(s => s.Value);

    /// <summary>The sample lines whose name starts with <paramref name="prefix"/> (histogram buckets left out),
    /// for failure messages.</summary>
    public string Show(string prefix) =>
        string.Join("\n", Text.Split('\n').Where(l => l.StartsWith(prefix, StringComparison.Ordinal) && !l.Contains("_bucket{")));

    [GeneratedRegex("""^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{(?<labels>.*)\})?\s+(?<value>\S+)(\s+\S+)?$""")]
    private static partial Regex SampleLine();

    [GeneratedRegex("""(?<key>[a-zA-Z_][a-zA-Z0-9_]*)="(?<value>(\\.|[^"\\])*)",?""")]
    private static partial Regex Label();
}
