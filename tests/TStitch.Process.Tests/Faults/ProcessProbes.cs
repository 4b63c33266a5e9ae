using System.Net.Sockets;
using System.Text;
using System.Text.RegularExpressions;

namespace TStitch.Process.Tests;

/// <summary>What the fault tests read from outside a process: its Prometheus counters, its memory, a Redis reply.</summary>
public static partial class ProcessProbes
{
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };

    /// <summary>The Prometheus name of the denoiser's batch-rows histogram's count: one per model run.</summary>
    public const string ModelRunsMetric = "tstitch_denoiser_batch_rows_count";

    /// <summary>Model runs so far of the denoiser process serving /metrics at <paramref name="metricsAddress"/> (summed over label sets);
    /// null if it does not answer.</summary>
    public static async Task<long?> ModelRunsAsync(string metricsAddress)
    {
        string text;
        try { text = await Http.GetStringAsync(metricsAddress + "/metrics"); }
        catch (Exception ex) when (ex is HttpRequestException or TaskCanceledException) { return null; }
        long total = 0;
        foreach (Match m in MetricLine().Matches(text))
            if (m.Groups["name"].Value == ModelRunsMetric)
                total += (long)double.Parse(m.Groups["value"].Value, System.Globalization.CultureInfo.InvariantCulture);
        return total;
    }

    [GeneratedRegex(@"^(?<name>[a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (?<value>[0-9.eE+-]+)", RegexOptions.Multiline)]
    private static partial Regex MetricLine();

    /// <summary>Resident memory of a process in KiB (/proc/&lt;pid&gt;/status VmRSS).</summary>
    public static long RssKiB(int pid)
    {
        var line = File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmRSS:", StringComparison.Ordinal));
        return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]);
    }

    /// <summary>Polls <paramref name="condition"/> every 50 ms until it holds or <paramref name="timeout"/> passes.</summary>
    public static async Task<bool> WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            if (await condition()) return true;
            await Task.Delay(50);
        }
        return await condition();
    }
}
