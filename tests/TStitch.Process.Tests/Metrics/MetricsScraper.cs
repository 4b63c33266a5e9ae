using System.Diagnostics;

namespace TStitch.Process.Tests.Metrics;

/// <summary>Scrapes a service process's /metrics (HTTP/1.1, Telemetry:MetricsPort) into <see cref="PrometheusText"/>.</summary>
public static class MetricsScraper
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(10) };

    public static async Task<PrometheusText> ScrapeAsync(string metricsAddress) =>
        PrometheusText.Parse(await Http.GetStringAsync($"{metricsAddress}/metrics"));

    /// <summary>
    /// Scrapes until <paramref name="done"/> holds or <paramref name="timeout"/> passes (a value recorded
    /// just after the job's answer, or a scrape answered from the exporter's short cache, shows up on a
    /// later scrape); returns the last scrape either way, for the caller to assert on.
    /// </summary>
    public static async Task<PrometheusText> ScrapeUntilAsync(string metricsAddress, Func<PrometheusText, bool> done, TimeSpan timeout)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var scrape = await ScrapeAsync(metricsAddress);
            if (done(scrape) || clock.Elapsed > timeout) return scrape;
            await Task.Delay(100);
        }
    }
}
