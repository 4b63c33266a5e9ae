using System.CommandLine;
using System.Diagnostics;
using Microsoft.Extensions.DependencyInjection;
using ScottPlot;
using Spectre.Console;
using TStitch.Contracts;
using TStitch.Denoising;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Sampling;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch load`: throughput of the cluster under concurrent jobs, in stage mode and in step mode
/// (two orchestrators over the same pools, measured level by level in one run). For each level, that
/// many clients each run jobs back to back; reported are images/s, latency p50/p95 and the mean rows
/// per ONNX Runtime run in the pools (what dynamic batching buys), next to the ceiling: the same
/// schedule run in process as one large batch straight on ONNX Runtime (no gRPC, no job store).
/// </summary>
internal static class LoadCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var levels = new Option<string>("--concurrency")
        {
            Description = "Comma-separated numbers of concurrent jobs.",
            DefaultValueFactory = _ => "1,2,4,8,16,32",
        };
        var images = new Option<int>("--images") { Description = "Images per job.", DefaultValueFactory = _ => 2 };
        var steps = CliOptions.Steps();
        var smallFraction = CliOptions.SmallFraction();
        var jobs = new Option<int>("--jobs") { Description = "Jobs per level (at least the concurrency).", DefaultValueFactory = _ => 32 };
        var modes = new Option<string>("--modes")
        {
            Description = "Run modes to compare: stage, step or both.",
            DefaultValueFactory = _ => "stage,step",
        };
        var delay = new Option<double>("--batch-delay-ms")
        {
            Description = "Denoiser MaxBatchDelay in ms (0 = greedy batching).",
            DefaultValueFactory = _ => 0,
        };
        var plot = new Option<string>("--plot")
        {
            Description = "PNG to write the throughput/latency plot to.",
            DefaultValueFactory = _ => "throughput.png",
        };
        // Load-adaptive mode against fixed all-large (the benchmark): on when --latency-target is given.
        var target = new Option<double>("--latency-target") { Description = "Latency target in ms: instead of the concurrency levels, " +
            "compare fixed all-large with load-adaptive mode (Orchestrator:LatencyTarget) under open-loop overload; needs --profile." };
        var profile = new Option<string?>("--profile") { Description = "Frontier profile the adaptive side moves along (with " +
            "--latency-target), e.g. docs/frontier/ddim50-2.json." };
        var overload = new Option<double>("--overload") { Description = "With --latency-target: offered load as a multiple of the " +
            "measured all-large capacity.", DefaultValueFactory = _ => 1.3 };
        var seconds = new Option<double>("--seconds") { Description = "With --latency-target: seconds of measured arrivals per mode and " +
            "round.", DefaultValueFactory = _ => 60 };
        var warmup = new Option<double>("--warmup-seconds") { Description = "Seconds of unmeasured work first. Levels: each run mode's " +
            "cluster runs jobs at the highest concurrency this long, and the ceiling is run as long, before they are measured (the JIT " +
            "tiers a server's code to optimised code over thousands of calls). With --latency-target: arrivals before the measured ones.",
            DefaultValueFactory = _ => 10 };
        var pinThreads = CliOptions.PinThreads();
        var rounds = new Option<int>("--rounds")
        {
            Description = "With --latency-target: rounds of both modes (the order alternates).",
            DefaultValueFactory = _ => 1,
        };
        var maxRunning = new Option<int>("--max-running-jobs")
        {
            Description = "With --latency-target: Orchestrator:MaxRunningJobs of both orchestrators (and the closed-loop clients of the " +
                "capacity measurement).",
            DefaultValueFactory = _ => 16,
        };
        var worstSchedule = new Option<double>("--worst-schedule")
        {
            Description = "With --latency-target: Orchestrator:WorstSchedule of the adaptive side.",
            DefaultValueFactory = _ => 0.5,
        };
        var arrivalSeed = new Option<int>("--arrival-seed")
        {
            Description = "With --latency-target: seed of the Poisson arrival times.",
            DefaultValueFactory = _ => 1,
        };
        var capacitySeconds = new Option<double>("--capacity-seconds") { Description = "With --latency-target: seconds each capacity " +
            "measurement counts completions (after half as long of warm-up).", DefaultValueFactory = _ => 6 };
        var capacityRepeats = new Option<int>("--capacity-repeats") { Description = "With --latency-target: capacity measurements per " +
            "schedule (all-large and the furthest shift take turns; medians).", DefaultValueFactory = _ => 1 };
        var between = new Option<double?>("--between") { Description = "With --latency-target: offer the load this fraction of the way " +
            "from the all-large capacity to the furthest shift's (0.5 = the midpoint) instead of --overload x all-large." };
        var command = new Command("load",
            "Throughput and latency of the cluster against the number of concurrent jobs, stage vs step mode, against the in-process " +
                "ceiling; with --latency-target, fixed all-large against load-adaptive mode under overload.")
        {
            models, levels, images, steps, smallFraction, jobs, modes, delay, plot, target, profile, overload, seconds, warmup, rounds,
            maxRunning, worstSchedule, arrivalSeed, capacitySeconds, capacityRepeats, between, pinThreads,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!);
            if (parse.GetValue(target) is > 0 and var targetMs)
            {
                if (parse.GetValue(profile) is not { Length: > 0 } profilePath)
                {
                    AnsiConsole.MarkupLine(
                        "[red]--latency-target needs --profile (a frontier profile written by `tstitch sweep --profile`).[/]");
                    return 1;
                }
                return await AdaptiveLoad.RunAsync(zoo, new AdaptiveLoadSettings(targetMs, profilePath, parse.GetValue(images),
                    parse.GetValue(steps), parse.GetValue(seconds), parse.GetValue(warmup), parse.GetValue(overload),
                    parse.GetValue(maxRunning), parse.GetValue(worstSchedule), Math.Max(1, parse.GetValue(rounds)),
                    parse.GetValue(arrivalSeed), parse.GetValue(capacitySeconds), parse.GetValue(capacityRepeats), parse.GetValue(between)),
                    parse.GetValue(delay), ct);
            }
            var pools = zoo.Manifests(ModelZoo.Small, ModelZoo.Large);
            bool pin = parse.GetValue(pinThreads);
            var session = new OnnxSessionOptions { PinThreads = pin };
            await using var cluster = await LoopbackCluster.StartAsync(pools, orchestratorArgs: ["--Orchestrator:MaxRunningJobs=1000"],
                denoiserArgs:
                [
                    $"--Denoiser:MaxBatchDelay={TimeSpan.FromMilliseconds(parse.GetValue(delay))}", $"--Denoiser:PinThreads={pin}",
                ], cancellationToken: ct);
            var (stepApp, stepAddress) = await LoopbackCluster.StartOrchestratorHostAsync(cluster.Pools, "",
                ["--Orchestrator:MaxRunningJobs=1000", "--Orchestrator:RunMode=step"], ct);
            await using var _ = stepApp;
            var batchers = cluster.Denoisers.Values.Select(a => a.Services.GetRequiredService<DynamicBatcher>()).ToArray();
            var load = new Load(parse.GetValue(images), parse.GetValue(steps), parse.GetValue(smallFraction), parse.GetValue(jobs),
                batchers);
            var addresses = new Dictionary<string, string> { ["stage"] = cluster.OrchestratorAddress, ["step"] = stepAddress };
            var chosen = parse.GetValue(modes)!.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries);
            var concurrency = parse.GetValue(levels)!.Split(',').Select(int.Parse).ToArray();

            double warmupSeconds = parse.GetValue(warmup);
            double ceiling = await CeilingAsync(zoo, session, load, concurrency.Max() * load.Images, warmupSeconds, ct);
            AnsiConsole.MarkupLine($"[grey]ceiling: {ceiling:F1} images/s (in process, one batch of {concurrency.Max() * load.Images}, " +
                $"ORT only)[/]");
            double batched = await ThroughBatchersAsync(zoo, session, load, concurrency.Max(), ct);
            AnsiConsole.MarkupLine($"[grey]jobs through batchers in process: {batched:F1} images/s ({concurrency.Max()} concurrent, " +
                $"{batched / ceiling:F2} of the ceiling)[/]");
            double singleLoop = SingleLoopReference.Run(zoo, session, load.Steps, load.SmallFraction, concurrency.Max(),
                Math.Max(load.Jobs, concurrency.Max()), i => load.Job(i).ClassLabels.ToArray(), ct);
            AnsiConsole.MarkupLine($"[grey]jobs stepped by one loop in process: {singleLoop:F1} images/s " +
                $"({singleLoop / ceiling:F2} of the ceiling, {singleLoop / batched:F2}x through the batchers)[/]");
            foreach (var mode in chosen)
            {
                using var channel = GrpcChannels.Create(addresses[mode]);
                int warmJobs = await load.WarmUpAsync(new Orchestrator.OrchestratorClient(channel), concurrency.Max(), warmupSeconds, ct);
                AnsiConsole.MarkupLine($"[grey]{mode}: warmed up with {warmJobs} jobs in {warmupSeconds:0.#} s ({concurrency.Max()} " +
                    $"concurrent, not measured)[/]");
            }
            var rows = new List<Level>();
            var gcBefore = GcCounts.Now();
            foreach (var level in concurrency)
                foreach (var mode in chosen)
                {
                    using var channel = GrpcChannels.Create(addresses[mode]);
                    var row = await load.RunAsync(mode, new Orchestrator.OrchestratorClient(channel), level, ct);
                    rows.Add(row);
                    AnsiConsole.MarkupLine($"[grey]{mode}, {level} concurrent: {row.ImagesPerSecond:F1} images/s, p50 {row.P50:F0} ms, " +
                        $"p95 {row.P95:F0} ms, {row.MeanRows:F1} rows/run[/]");
                }
            // The whole cluster runs in this process, so these are its collections during the levels.
            AnsiConsole.MarkupLine($"[grey]garbage collections during the levels: {GcCounts.Now().Since(gcBefore)}[/]");
            Report(rows, load, ceiling, (concurrency.Max(), batched, singleLoop), parse.GetValue(plot)!);
            return 0;
        });
        return command;
    }

    private sealed record Level(string Mode, int Concurrency, int Jobs, double ImagesPerSecond, double P50, double P95, double MeanRows);

    /// <summary>One kind of job (images, steps, r) sent by N clients back to back.</summary>
    private sealed class Load(int images, int steps, double r, int jobs, DynamicBatcher[] batchers)
    {
        public int Images => images;
        public int Steps => steps;
        public double SmallFraction => r;
        public int Jobs => jobs;

        public GenerateRequest Job(int i)
        {
            var g = new GenerateRequest { Steps = steps, SmallFraction = r, Seed = (ulong)i, Sampler = "ddim", Output = OutputKind.Raw };
            g.ClassLabels.AddRange(Enumerable.Range(i, images).Select(k => k % 10));
            return g;
        }

        /// <summary>
        /// Jobs from <paramref name="level"/> clients back to back for <paramref name="seconds"/>, unmeasured; returns how many ran.
        /// </summary>
        public async Task<int> WarmUpAsync(Orchestrator.OrchestratorClient client, int level, double seconds, CancellationToken ct)
        {
            int done = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, level).Select(async _ =>
            {
                while (clock.Elapsed.TotalSeconds < seconds)
                    await client.GenerateAsync(Job(jobs + Interlocked.Increment(ref done)), cancellationToken: ct);
            }));
            return done;
        }

        public async Task<Level> RunAsync(string mode, Orchestrator.OrchestratorClient client, int level, CancellationToken ct)
        {
            await client.GenerateAsync(Job(0), cancellationToken: ct); // warm-up of this orchestrator's channels
            int total = Math.Max(jobs, level), next = 0;
            var before = batchers.Select(b => b.Counters).ToArray();
            var latencies = new List<double>();
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
            long runs = after.Zip(before, (a, b) => a.Runs - b.Runs).Sum(), rows = after.Zip(before, (a, b) => a.Rows - b.Rows).Sum();
            return new Level(mode, level, total, total * images / seconds, Stats.Percentile(latencies, 0.5), Stats.Percentile(latencies,
                0.95), (double)rows / runs);
        }
    }

    /// <summary>
    /// Images/s of the same schedule in process as one batch of <paramref name="batch"/>, straight on ONNX Runtime: median of 5 runs
    /// after <paramref name="warmupSeconds"/> of runs (as long as the cluster's warm-up: without it the sampler's code is still being
    /// tiered up and the ceiling reads low).
    /// </summary>
    private static async Task<double> CeilingAsync(ModelZoo zoo, OnnxSessionOptions session, Load load, int batch, double warmupSeconds,
        CancellationToken ct)
    {
        using var small = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Small), session);
        using var large = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Large), session);
        var models = new Dictionary<string, IDenoiser> { [ModelZoo.Small] = small, [ModelZoo.Large] = large };
        var labels = Enumerable.Range(0, batch).Select(i => i % 10).ToArray();
        var times = new List<double>();
        Task<double> RunOnce()
        {
            var trajectory = new Trajectory(new TrajectoryRequest(labels, load.Steps, SamplerKind.Ddim,
                SwitchSchedule.SmallThenLarge(load.SmallFraction, ModelZoo.Small, ModelZoo.Large), 1f, 7), models);
            return Stats.TimeAsync(() => trajectory.RunAsync(trajectory.Start(), cancellationToken: ct));
        }
        var warm = Stopwatch.StartNew();
        do await RunOnce(); while (warm.Elapsed.TotalSeconds < warmupSeconds);
        for (int i = 0; i < 5; i++) times.Add(await RunOnce());
        return batch / (Stats.Median(times) / 1000);
    }

    /// <summary>
    /// Images/s (median of three passes) of <paramref name="concurrent"/> jobs run back to back in process,
    /// each its own trajectory through the pools' batching (a <see cref="DynamicBatcher"/> per model, the pools' default options,
    /// stage runs enlisted): what the per-job design costs before any gRPC, orchestrator or job store.
    /// Between the ceiling (one trajectory of all images) and the cluster, it splits the gap in two.
    /// </summary>
    private static async Task<double> ThroughBatchersAsync(ModelZoo zoo, OnnxSessionOptions session, Load load, int concurrent,
        CancellationToken ct)
    {
        using var small = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Small), session);
        using var large = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Large), session);
        var options = new DenoiserOptions().Batching;
        await using var smallBatcher = new DynamicBatcher(small, options);
        await using var largeBatcher = new DynamicBatcher(large, options);
        var schedule = SwitchSchedule.SmallThenLarge(load.SmallFraction, ModelZoo.Small, ModelZoo.Large);
        async Task<double> RunAsync(int total)
        {
            int next = 0;
            var clock = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, concurrent).Select(_ => Task.Run(async () =>
            {
                int i;
                while ((i = Interlocked.Increment(ref next)) <= total)
                {
                    using var smallRun = smallBatcher.Enlist();
                    using var largeRun = largeBatcher.Enlist();
                    var models = new Dictionary<string, IDenoiser> { [ModelZoo.Small] = smallRun, [ModelZoo.Large] = largeRun };
                    var trajectory = new Trajectory(new TrajectoryRequest(load.Job(i).ClassLabels.ToArray(), load.Steps, SamplerKind.Ddim,
                        schedule, 1f, (ulong)i), models);
                    await trajectory.RunAsync(trajectory.Start(), cancellationToken: ct);
                }
            }, ct)));
            return total * load.Images / clock.Elapsed.TotalSeconds;
        }
        // Warmed up with ~1000 jobs, then the median of three passes: the JIT's tiering and the thread pool
        // settle over hundreds of jobs (after one pass of 128 this design measured 0.56-0.70 of the ceiling,
        // after ~1000 jobs 1.00), and one pass moves by ±30 % on this VM.
        int total = Math.Max(load.Jobs, concurrent);
        for (int warm = 0; warm < Math.Max(1, 1024 / total); warm++) await RunAsync(total);
        var passes = new List<double>();
        for (int i = 0; i < 3; i++) passes.Add(await RunAsync(total));
        return Stats.Median(passes);
    }

    private static void Report(List<Level> rows, Load load, double ceiling,
        (int Concurrency, double ImagesPerSecond, double SingleLoop) references, string plotPath)
    {
        var table = new Table().Title($"{load.Images} images x {load.Steps} DDIM steps per job, small for r = {load.SmallFraction}; jobs " +
            $"run back to back by each of N clients")
            .AddColumns("mode", "concurrent jobs", "jobs", "images/s", "x 1 job", "of ceiling", "p50 ms", "p95 ms", "rows per ORT run");
        foreach (var l in rows)
        {
            var single = rows.First(x => x.Mode == l.Mode);
            table.AddRow(l.Mode, l.Concurrency.ToString(), l.Jobs.ToString(), $"{l.ImagesPerSecond:F1}",
                $"{l.ImagesPerSecond / single.ImagesPerSecond:F2}x",
                $"{l.ImagesPerSecond / ceiling:F2}", $"{l.P50:F0}", $"{l.P95:F0}", $"{l.MeanRows:F1}");
        }
        table.AddRow("batchers", references.Concurrency.ToString(), "", $"{references.ImagesPerSecond:F1}", "",
            $"{references.ImagesPerSecond / ceiling:F2}", "", "", "in process, a trajectory per job through the pools' batching");
        table.AddRow("one loop", references.Concurrency.ToString(), "", $"{references.SingleLoop:F1}", "",
            $"{references.SingleLoop / ceiling:F2}", "", "", "in process, all jobs stepped by one loop (merged runs, no task per job)");
        table.AddRow("ceiling", "", "", $"{ceiling:F1}", "", "1.00", "", "", "in process, one batch, ORT only");
        AnsiConsole.Write(table);

        var plot = new Plot();
        foreach (var mode in rows.Select(l => l.Mode).Distinct())
        {
            var mine = rows.Where(l => l.Mode == mode).ToArray();
            var line = plot.Add.Scatter(mine.Select(l => (double)l.Concurrency).ToArray(), mine.Select(l => l.ImagesPerSecond).ToArray());
            line.LegendText = $"{mode} mode (images/s)";
        }
        var top = plot.Add.HorizontalLine(ceiling);
        top.LegendText = "in-process ceiling";
        top.LinePattern = LinePattern.Dashed;
        plot.Axes.Bottom.Label.Text = "concurrent jobs";
        plot.Axes.Left.Label.Text = "images / s";
        plot.Title($"TStitch cluster throughput ({load.Images} images x {load.Steps} steps, r = {load.SmallFraction})");
        plot.ShowLegend(Alignment.LowerRight);
        plot.SavePng(plotPath, 900, 520);
        AnsiConsole.MarkupLine($"plot written to [bold]{Markup.Escape(plotPath)}[/]");
    }
}
