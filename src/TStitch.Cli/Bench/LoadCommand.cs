using TStitch.LocalCluster;
using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using ScottPlot;
using Spectre.Console;
using TStitch.Denoising;
using TStitch.Models.Zoo;
using TStitch.Contracts;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch load`: throughput of the cluster under concurrent jobs. For each concurrency level, that
/// many clients each run jobs back to back; reported are jobs/s, latency p50/p95 and the mean rows
/// per ONNX Runtime run in the pools (what dynamic batching buys). Writes a table and a PNG plot.
/// </summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var levels = new Option<string>("--concurrency") { Description = "Comma-separated numbers of concurrent jobs.", DefaultValueFactory = _ => "1,2,4,8,16,32" };
        var images = new Option<int>("--images") { Description = "Images per job.", DefaultValueFactory = _ => 2 };
        var steps = CliOptions.Steps();
        var smallFraction = CliOptions.SmallFraction();
        var jobs = new Option<int>("--jobs") { Description = "Jobs per level (at least the concurrency).", DefaultValueFactory = _ => 32 };
        var delay = new Option<double>("--batch-delay-ms") { Description = "Denoiser MaxBatchDelay in ms (0 = greedy batching).", DefaultValueFactory = _ => 0 };
        var plot = new Option<string>("--plot") { Description = "PNG to write the throughput/latency plot to.", DefaultValueFactory = _ => "throughput.png" };
        var command = new Command("load", "Throughput and latency of the cluster against the number of concurrent jobs.")
        {
            models, levels, images, steps, smallFraction, jobs, delay, plot,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!);
            await using var cluster = await LoopbackCluster.StartAsync(
                new Dictionary<string, string> { ["small"] = zoo.ManifestPath("small"), ["large"] = zoo.ManifestPath("large") },
                orchestratorArgs: ["--Orchestrator:MaxRunningJobs=1000"],
                denoiserArgs: [$"--Denoiser:MaxBatchDelay={TimeSpan.FromMilliseconds(parse.GetValue(delay))}"], cancellationToken: ct);
            using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
            var client = new Orchestrator.OrchestratorClient(channel);
            var batchers = cluster.Denoisers.Values.Select(a => a.Services.GetRequiredService<DynamicBatcher>()).ToArray();
            int imageCount = parse.GetValue(images), stepCount = parse.GetValue(steps), jobCount = parse.GetValue(jobs);
            double r = parse.GetValue(smallFraction);

            GenerateRequest Job(int i)
            {
                var g = new GenerateRequest { Steps = stepCount, SmallFraction = r, Seed = (ulong)i, Sampler = "ddim", Output = OutputKind.Raw };
                g.ClassLabels.AddRange(Enumerable.Range(i, imageCount).Select(k => k % 10));
                return g;
            }

            await client.GenerateAsync(Job(0), cancellationToken: ct); // warm-up
            var rows = new List<Level>();
            foreach (var level in parse.GetValue(levels)!.Split(',').Select(int.Parse))
            {
                int total = Math.Max(jobCount, level);
                var before = batchers.Select(b => b.Counters).ToArray();
                var latencies = new List<double>();
                int next = 0;
                var clock = Stopwatch.StartNew();
                await Task.WhenAll(Enumerable.Range(0, level).Select(async _ =>
                {
                    int i;
                    while ((i = Interlocked.Increment(ref next)) <= total)
                    {
                        long start = Stopwatch.GetTimestamp();
                        await client.GenerateAsync(Job(i), cancellationToken: ct);
                        lock (latencies) latencies.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
                    }
                }));
                double seconds = clock.Elapsed.TotalSeconds;
                var after = batchers.Select(b => b.Counters).ToArray();
                long runs = after.Zip(before, (a, b) => a.Runs - b.Runs).Sum(), batchRows = after.Zip(before, (a, b) => a.Rows - b.Rows).Sum();
                latencies.Sort();
                var row = new Level(level, total, total / seconds, Stats.Percentile(latencies, 0.5), Stats.Percentile(latencies, 0.95), (double)batchRows / runs);
                rows.Add(row);
                AnsiConsole.MarkupLine($"[grey]{level} concurrent: {row.JobsPerSecond:F2} jobs/s, p50 {row.P50:F0} ms, p95 {row.P95:F0} ms, {row.MeanRows:F1} rows/run[/]");
            }
            Report(rows, imageCount, stepCount, r, parse.GetValue(plot)!);
            return 0;
        });
        return command;
    }

    private sealed record Level(int Concurrency, int Jobs, double JobsPerSecond, double P50, double P95, double MeanRows);

    private static void Report(List<Level> rows, int images, int steps, double r, string plotPath)
    {
        var baseline = rows.First();
        var table = new Table().Title($"{images} images x {steps} DDIM steps per job, small for r = {r}; jobs run back to back by each of N clients")
            .AddColumns("concurrent jobs", "jobs", "jobs/s", "images/s", "x sequential", "p50 ms", "p95 ms", "mean rows per ORT run");
        foreach (var l in rows)
            table.AddRow(l.Concurrency.ToString(), l.Jobs.ToString(), $"{l.JobsPerSecond:F2}", $"{l.JobsPerSecond * images:F1}",
                $"{l.JobsPerSecond / baseline.JobsPerSecond:F2}x", $"{l.P50:F0}", $"{l.P95:F0}", $"{l.MeanRows:F1}");
        AnsiConsole.Write(table);

        var plot = new Plot();
        double[] xs = rows.Select(l => (double)l.Concurrency).ToArray();
        var throughput = plot.Add.Scatter(xs, rows.Select(l => l.JobsPerSecond).ToArray());
        throughput.LegendText = "throughput (jobs/s, left)";
        var p50 = plot.Add.Scatter(xs, rows.Select(l => l.P50).ToArray());
        p50.LegendText = "p50 latency (ms, right)";
        p50.Axes.YAxis = plot.Axes.Right;
        var p95 = plot.Add.Scatter(xs, rows.Select(l => l.P95).ToArray());
        p95.LegendText = "p95 latency (ms, right)";
        p95.Axes.YAxis = plot.Axes.Right;
        plot.Axes.Bottom.Label.Text = "concurrent jobs";
        plot.Axes.Left.Label.Text = "jobs / s";
        plot.Axes.Right.Label.Text = "latency (ms)";
        plot.Title($"TStitch cluster throughput ({images} images x {steps} steps, r = {r})");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.SavePng(plotPath, 900, 520);
        AnsiConsole.MarkupLine($"plot written to [bold]{Markup.Escape(plotPath)}[/]");
    }
}
