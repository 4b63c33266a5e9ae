using TStitch.LocalCluster;
using System.CommandLine;
using System.Diagnostics;
using Grpc.Net.Client;
using Spectre.Console;
using TStitch.Models;
using TStitch.Imaging;
using TStitch.Models.Zoo;
using TStitch.Contracts;

using TStitch.Cli.Bench;

namespace TStitch.Cli;

/// <summary>
/// `tstitch demo`: the whole cluster in this process (small and large denoiser pools plus the
/// orchestrator, each a real gRPC server on a loopback port), a grid of stitched samples for every
/// class, and the measured latency of r = 0 against r = small fraction next to the compute bound.
/// </summary>
internal static class DemoCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var output = new Option<string>("--out")
        {
            Description = "PNG grid to write (one column per class).",
            DefaultValueFactory = _ => "demo.png",
        };
        var steps = CliOptions.Steps();
        var smallFraction = CliOptions.SmallFraction();
        var rows = new Option<int>("--rows") { Description = "Rows of the grid (images per class).", DefaultValueFactory = _ => 8 };
        var repeats = new Option<int>("--repeats")
        {
            Description = "Timed jobs per r for the latency medians (after one warm-up).",
            DefaultValueFactory = _ => 7,
        };
        var batch = new Option<int>("--batch") { Description = "Images per timed job (labels cycle over the classes; 64 is the " +
            "orchestrator's default batch limit).", DefaultValueFactory = _ => 64 };
        var redis = CliOptions.Redis();
        var command = new Command("demo",
            "Start small + large denoisers and the orchestrator in process, generate a stitched grid over gRPC and measure the speedup.")
        {
            models, output, steps, smallFraction, rows, repeats, batch, redis,
        };
        command.SetAction(async (parse, ct) =>
        {
            double r = parse.GetValue(smallFraction);
            int stepCount = parse.GetValue(steps), rowCount = parse.GetValue(rows), repeatCount = Math.Max(1,
                parse.GetValue(repeats)), batchSize = Math.Max(1, parse.GetValue(batch));
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!, log: l => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(l)}[/]"));
            var small = ModelManifest.Load(zoo.ManifestPath(ModelZoo.Small));
            var large = ModelManifest.Load(zoo.ManifestPath(ModelZoo.Large));

            var redisAddress = parse.GetValue(redis)!;
            await using var cluster = await LoopbackCluster.StartAsync(
                zoo.Manifests(ModelZoo.Small, ModelZoo.Large), redisAddress, cancellationToken: ct);
            try
            {
                string store = string.IsNullOrWhiteSpace(redisAddress) ? "in-memory job store" : $"Redis job store at {redisAddress}";
                AnsiConsole.MarkupLine($"small denoiser [bold]{cluster.Pools["small"]}[/], large denoiser " +
                    $"[bold]{cluster.Pools["large"]}[/], orchestrator [bold]{cluster.OrchestratorAddress}[/] ({Markup.Escape(store)})");

                using var channel = GrpcChannels.Create(cluster.OrchestratorAddress);
                var client = new Orchestrator.OrchestratorClient(channel);
                int classes = large.NumClasses;
                int[] shape = large.LatentShape;

                // The grid: one job per row (the orchestrator's batch limit is 64), one column per class.
                var clock = Stopwatch.StartNew();
                var grid = new List<float>(rowCount * classes * shape[0] * shape[1] * shape[2]);
                await AnsiConsole.Progress()
                    .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new ElapsedTimeColumn())
                    .StartAsync(async ctx =>
                    {
                        var task = ctx.AddTask($"grid: {rowCount} x {classes}, small for r = {r:0.##}", maxValue: rowCount);
                        for (int row = 0; row < rowCount; row++)
                        {
                            var result = await client.GenerateAsync(Request(classes, stepCount, r, seed: 1UL + (ulong)row, OutputKind.Raw),
                                cancellationToken: ct);
                            grid.AddRange(result.Samples.ToFloats("samples"));
                            task.Increment(1);
                        }
                    });
                var path = parse.GetValue(output)!;
                var png = ImageGrid.ToPng(grid.ToArray(), rowCount * classes, shape[0], shape[1], shape[2], columns: classes);
                await File.WriteAllBytesAsync(path, png, ct);
                AnsiConsole.MarkupLine($"{rowCount * classes} images (one column per class, small:{r:0.##} -> large:{1 - r:0.##}, " +
                    $"{stepCount} DDIM steps) " +
                                       $"written to [bold]{Markup.Escape(path)}[/] in {clock.Elapsed.TotalSeconds:F1} s");

                // Latency: the same request at r = 0 (large only) and r, interleaved so drift hits both equally.
                var timings = new Dictionary<double, List<double>> { [0] = [], [r] = [] };
                var calls = new Dictionary<double, string>();
                await AnsiConsole.Status().StartAsync($"timing {repeatCount} jobs of {batchSize} images at r = 0 and r = {r:0.##}...",
                    async _ =>
                {
                    for (int i = -1; i < repeatCount; i++)
                    foreach (var fraction in timings.Keys.ToArray())
                    {
                        long start = Stopwatch.GetTimestamp();
                        var result = await client.GenerateAsync(Request(batchSize, stepCount, fraction, seed: 100, OutputKind.Raw,
                            classes), cancellationToken: ct);
                        double ms = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
                        if (i >= 0) timings[fraction].Add(ms); // i = -1 is the warm-up
                        calls[fraction] = string.Join(", ",
                            result.Job.CallsPerPool.OrderByDescending(kv => kv.Key).Select(kv => $"{kv.Key} {kv.Value}"));
                    }
                });
                double c = small.RelativeCost / large.RelativeCost;
                double bound = 1 / ((1 - r) + r * c);
                double baseline = Stats.Median(timings[0]), stitched = Stats.Median(timings[r]);
                var table = new Table().Title($"per-job latency, {batchSize} images x {stepCount} steps, median of {repeatCount}")
                    .AddColumns("r", "denoise calls", "median ms", "min ms", "speedup");
                table.AddRow("0", calls[0], $"{baseline:F1}", $"{timings[0].Min():F1}", "1.00x");
                table.AddRow($"{r:0.##}", calls[r], $"{stitched:F1}", $"{timings[r].Min():F1}", $"[bold]{baseline / stitched:F2}x[/]");
                AnsiConsole.Write(table);
                AnsiConsole.MarkupLine($"compute bound 1/((1-r)+r*c) = [bold]{bound:F2}x[/] with c = small/large relative cost = " +
                    $"{small.RelativeCost:F3}/{large.RelativeCost:F3} = {c:F3} (from the manifests)");
                // The bound comes from the manifests' relative costs, not from this run's timings, so a run may land above it.
                double ofBound = baseline / stitched / bound;
                AnsiConsole.MarkupLine(ofBound >= 0.95
                    ? $"[grey]Measured speedup is {ofBound:F2} of the bound (medians of {repeatCount} jobs; on a shared machine " +
                        "they move by about 10 %).[/]"
                    : $"[grey]Measured speedup is {ofBound:F2} of the bound. The rest is costs that do not shrink with the small " +
                        "model: each step's sampler maths, and per stage a gRPC call, the hand-off and its checkpoints " +
                        "(docs/benchmarks.md).[/]");
                return 0;
            }
            catch (Grpc.Core.RpcException ex)
            {
                AnsiConsole.MarkupLine($"[red]{ex.StatusCode}: {Markup.Escape(ex.Status.Detail)}[/]");
                return 1;
            }
        });
        return command;
    }

    /// <summary>A small-then-large request for <paramref name="count"/> images with labels 0, 1, ... cycling over the classes.</summary>
    private static GenerateRequest Request(int count, int steps, double smallFraction, ulong seed, OutputKind output, int classes = 0)
    {
        var request = new GenerateRequest { Steps = steps, Sampler = "ddim", SmallFraction = smallFraction, Seed = seed, Output = output };
        request.ClassLabels.Add(Enumerable.Range(0, count).Select(i => classes > 0 ? i % classes : i));
        return request;
    }
}
