using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using Grpc.Core;
using Spectre.Console;
using TStitch.Contracts;
using TStitch.Models.Zoo;
using TStitch.Orchestration.Frontier;
using TStitch.Quality;
using TStitch.Sampling;

namespace TStitch.Cli;

/// <summary>
/// `tstitch sweep`: the speed/quality frontier of a two- or three-model schedule family on the zoo,
/// measured in process or through a running cluster; optionally written as a frontier profile (what
/// the orchestrator serves tiers and budgets from) and plotted.
/// </summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var samples = new Option<int>("--samples")
        {
            Description = "Images per point (labels cycle over classes).",
            DefaultValueFactory = _ => 1000,
        };
        var steps = CliOptions.Steps();
        var sampler = CliOptions.Sampler();
        var seed = CliOptions.Seed(); // chunk c of a point uses seed + c
        var guidance = CliOptions.Guidance();
        var pools = new Option<string>("--pools") { Description = "The family, cheapest first: small,large (an r grid, --fractions) or " +
            "small,base,large (a grid, --grid).", DefaultValueFactory = _ => "small,large" };
        var fractionsOpt = new Option<string>("--fractions")
        {
            Description = "Two pools: comma-separated fractions of the first.",
            DefaultValueFactory = _ => "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1",
        };
        var grid = new Option<string>("--grid") { Description = "Three pools: comma-separated first/second fractions, e.g. " +
            "0.1/0.1,0.2/0.1 (the last pool runs the rest).", DefaultValueFactory = _ => "0/0,0.1/0.1,0.2/0.1,0.1/0.2,0.2/0.2,0.3/0.1" };
        var batch = new Option<int>("--batch") { Description = "Images per trajectory (per request on a cluster) when measuring latency; " +
            "0 = all samples at once (in process only).", DefaultValueFactory = _ => 8 };
        var orchestratorOpt = new Option<string?>("--orchestrator") { Description = "Measure through this running orchestrator (its " +
            "pools must have the family's names) instead of in process." };
        var apiKey = CliOptions.ApiKey(); // both for --orchestrator only
        var caCert = CliOptions.CaCert();
        var profileOpt = new Option<string?>("--profile") { Description = "Write the frontier profile (JSON) here, for " +
            "Orchestrator:Profiles." };
        var plotOpt = new Option<string?>("--plot")
        {
            Description = "Write a PNG of FD against latency per image, the Pareto front marked.",
        };
        var family = new Option<string?>("--family") { Description = "Name of the model family in the profile (default: pools, sampler " +
            "and steps)." };
        var command = new Command("sweep",
            "Measure quality (FD proxy, precision, recall, class accuracy) and latency across a family of switch schedules; write a " +
                "frontier profile and plot.")
        {
            models, samples, steps, sampler, seed, guidance, pools, fractionsOpt, grid, batch, orchestratorOpt, apiKey, caCert, profileOpt,
            plotOpt, family,
        };
        command.SetAction(async (parse, ct) =>
        {
            var poolNames = parse.GetValue(pools)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            List<SwitchSchedule> schedules;
            try { schedules = Schedules(poolNames, parse.GetValue(fractionsOpt)!, parse.GetValue(grid)!); }
            catch (Exception ex) when (ex is ArgumentException or FormatException or InvalidRequestException)
            {
                AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
                return 1;
            }
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!, log: l => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(l)}[/]"));
            var options = new SweepOptions
            {
                Samples = parse.GetValue(samples), Steps = parse.GetValue(steps), Sampler = Sampler.Parse(parse.GetValue(sampler)!),
                Seed = parse.GetValue(seed), GuidanceScale = parse.GetValue(guidance), Batch = parse.GetValue(batch),
            };
            string? orchestrator = parse.GetValue(orchestratorOpt);
            Grpc.Net.Client.GrpcChannel? channel = null;
            Orchestrator.OrchestratorClient? client = null;
            if (orchestrator is not null)
            {
                var connection = OrchestratorConnection.Open(orchestrator, parse.GetValue(caCert), parse.GetValue(apiKey));
                if (connection is null) return 1;
                (channel, client) = connection.Value;
            }
            using var _ = channel;
            using var metric = StitchingSweep.MetricFor(zoo);
            var loaded = orchestrator is null ? StitchingSweep.LoadZoo(zoo) : null;
            string where = orchestrator ?? "in-process";
            AnsiConsole.MarkupLine($"{string.Join(" -> ", poolNames)}, {options.Sampler} {options.Steps} steps, {options.Samples} " +
                $"samples, batch {options.Batch}, guidance {options.GuidanceScale}, seed {options.Seed}, {Markup.Escape(where)}");
            AnsiConsole.MarkupLine($"reference: k-NN accuracy on held-out real images {metric.ReferenceClassAccuracy:F3}");
            var table = new Table().AddColumns("schedule", "FD", "precision", "recall", "class acc", "ms / image", "seconds");
            var points = new List<ScheduleSweepPoint>();
            try
            {
                // Warm-up, unmeasured: ORT sessions and the pools' first calls are slower than their steady state
                // (through an orchestrator it is also the first call, so a refused key or certificate shows here).
                var warm = options with { Samples = Math.Max(2, options.Batch), Steps = 5 };
                foreach (var pool in poolNames)
                {
                    if (loaded is not null) await StitchingSweep.SampleAsync(loaded, SwitchSchedule.OneModel(pool), warm, ct);
                    else if (client is not null)
                    {
                        var r = new GenerateRequest
                        {
                            Steps = 5, Output = OutputKind.Raw,
                            Stages = new StageList { Stages = { new Stage { Pool = pool, Fraction = 1 } } },
                        };
                        r.ClassLabels.Add(Enumerable.Range(0, warm.Samples).Select(i => i % metric.Classes));
                        await client.GenerateAsync(r, cancellationToken: ct);
                    }
                }
                var clock = Stopwatch.StartNew();
                await AnsiConsole.Live(table).StartAsync(async _ =>
                {
                    foreach (var schedule in schedules)
                    {
                        var p = client is null
                            ? await StitchingSweep.MeasureAsync(loaded!, metric, schedule, options, ct)
                            : await MeasureOnClusterAsync(client, metric, schedule, options, ct);
                        points.Add(p);
                        table.AddRow(Markup.Escape(p.Schedule.ToString()), $"{p.Quality.FrechetDistance:F3}", $"{p.Quality.Precision:F3}",
                            $"{p.Quality.Recall:F3}",
                            $"{p.Quality.ClassAccuracy:F3}", $"{p.LatencyMsPerImage:F2}", $"{clock.Elapsed.TotalSeconds:F1}");
                    }
                });
            }
            catch (RpcException ex)
            {
                AnsiConsole.MarkupLine($"[red]{ex.StatusCode}: {Markup.Escape(ex.Status.Detail)}[/]");
                return 1;
            }
            finally
            {
                foreach (var m in loaded?.Values.ToList() ?? []) (m as IDisposable)?.Dispose();
            }
            var profile = Profile(points, options, parse.GetValue(family) ?? $"{string.Join("-",
                poolNames)} {Sampler.Name(options.Sampler)}-{options.Steps}", where);
            AnsiConsole.MarkupLine("Pareto front: " + Markup.Escape(string.Join(" | ",
                profile.Front.Select(p => $"{p} (FD {p.Fd:F3}, {p.LatencyMsPerImage:F2} ms)"))));
            if (parse.GetValue(profileOpt) is { Length: > 0 } profilePath)
            {
                await File.WriteAllTextAsync(profilePath, profile.ToJson(), ct);
                AnsiConsole.MarkupLine($"profile written to [bold]{Markup.Escape(profilePath)}[/]");
            }
            if (parse.GetValue(plotOpt) is { Length: > 0 } plotPath)
            {
                FrontierPlot.Save(profile, plotPath);
                AnsiConsole.MarkupLine($"plot written to [bold]{Markup.Escape(plotPath)}[/]");
            }
            return 0;
        });
        return command;
    }

    /// <summary>The schedule family: an r grid over two pools, or a (first, second) grid over three.</summary>
    public static List<SwitchSchedule> Schedules(string[] pools, string fractions, string grid)
    {
        static double Parse(string s) => double.Parse(s, NumberStyles.Float, CultureInfo.InvariantCulture);
        var entries = (pools.Length == 2 ? fractions : grid).Split(',',
            StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
        return pools.Length switch
        {
            2 => entries.Select(f => SwitchSchedule.SmallThenLarge(Parse(f), pools[0], pools[1])).ToList(),
            3 => entries.Select(e => e.Split('/') is [var a, var b]
                    ? new SwitchSchedule([new(pools[0], Parse(a)), new(pools[1], Parse(b)), new(pools[2],
                        Math.Round(1 - Parse(a) - Parse(b), 12))])
                    : throw new ArgumentException($"--grid entry '{e}' is not first/second, e.g. 0.1/0.2.")).ToList(),
            _ => throw new ArgumentException($"--pools names {pools.Length} pools; give two (small,large) or three (small,base,large)."),
        };
    }

    /// <summary>
    /// One schedule through a running orchestrator: requests of --batch images one after another; the
    /// latency is wall-clock per image, the per-pool step costs come from the progress events (a stage's
    /// first step, which also starts the call, left out, as the orchestrator does).
    /// </summary>
    private static async Task<ScheduleSweepPoint> MeasureOnClusterAsync(Orchestrator.OrchestratorClient client, FidProxy metric,
        SwitchSchedule schedule,
        SweepOptions options, CancellationToken ct)
    {
        var labels = Enumerable.Range(0, options.Samples).Select(i => i % metric.Classes).ToArray();
        int batch = options.Batch <= 0 ? 8 : options.Batch;
        var images = new List<float>();
        var stepMs = new Dictionary<string, (double Ms, long Images)>();
        long start = Stopwatch.GetTimestamp();
        for (int from = 0, chunk = 0; from < options.Samples; from += batch, chunk++)
        {
            var request = new GenerateRequest
            {
                Steps = options.Steps, Sampler = Sampler.Name(options.Sampler), GuidanceScale = options.GuidanceScale,
                Seed = options.Seed + (ulong)chunk,
                Output = OutputKind.Raw, Stages = new StageList(),
            };
            request.Stages.Stages.Add(schedule.Stages.Select(s => new Stage { Pool = s.ModelId, Fraction = s.Fraction }));
            request.ClassLabels.Add(labels[from..Math.Min(options.Samples, from + batch)]);
            using var call = client.GenerateStream(request, cancellationToken: ct);
            GenerateResult? result = null;
            StepProgress? previous = null;
            await foreach (var e in call.ResponseStream.ReadAllAsync(ct))
            {
                if (e.Progress is { } p)
                {
                    if (previous is not null && previous.Pool == p.Pool)
                    {
                        var (ms, n) = stepMs.GetValueOrDefault(p.Pool);
                        stepMs[p.Pool] = (ms + p.ElapsedMs - previous.ElapsedMs,
                            n + (long)(p.Step - previous.Step) * request.ClassLabels.Count);
                    }
                    previous = p;
                }
                else result = e.Result;
            }
            images.AddRange(result?.Samples.ToFloats("samples")
                ?? throw new InvalidOperationException("The stream ended without a result."));
        }
        double total = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return new ScheduleSweepPoint(schedule, metric.Evaluate(images.ToArray(), labels), total / options.Samples,
            stepMs.Where(s => s.Value.Images > 0).ToDictionary(s => s.Key, s => s.Value.Ms / s.Value.Images));
    }

    /// <summary>The profile the orchestrator reads: every point, the front marked, each pool's median step cost over the points.</summary>
    public static FrontierProfile Profile(IReadOnlyList<ScheduleSweepPoint> points, SweepOptions options, string family, string measuredOn)
    {
        var costs = points.SelectMany(p => p.StepMsPerImage).GroupBy(kv => kv.Key)
            .ToDictionary(g => g.Key, g => Median(g.Select(kv => kv.Value)));
        return new FrontierProfile
        {
            Family = family, Sampler = Sampler.Name(options.Sampler), Steps = options.Steps, Samples = options.Samples,
            Batch = options.Batch <= 0 ? options.Samples : options.Batch, MeasuredOn = measuredOn, StepMsPerImage = costs,
            Points = ParetoFront.Mark(points.Select(p => new FrontierPoint
            {
                Stages = p.Schedule.Stages.Select(s => new FrontierStage(s.ModelId, s.Fraction)).ToList(),
                Fd = p.Quality.FrechetDistance, Precision = p.Quality.Precision, Recall = p.Quality.Recall,
                ClassAccuracy = p.Quality.ClassAccuracy, LatencyMsPerImage = p.LatencyMsPerImage,
            })),
        };
    }

    private static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
