using System.Diagnostics;
using Grpc.Core;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using TStitch.Contracts;
using TStitch.LocalCluster;
using TStitch.Models.Zoo;
using TStitch.Orchestration;
using TStitch.Orchestration.Frontier;
using TStitch.Quality;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch load --latency-target MS --profile FILE`: the issue's benchmark of load-adaptive mode. One
/// loopback cluster (a small and a large pool), two orchestrators over it: fixed all-large, and
/// load-adaptive (the profile and the target set, requests with no schedule). The all-large capacity is
/// measured first (closed loop, all slots busy); then both modes replay the same open-loop Poisson
/// arrivals at a multiple of it, one mode after the other, and each reports latency percentiles against
/// the target, throughput, the schedules it served and the FD proxy of the raw samples it returned.
/// </summary>
internal static class AdaptiveLoad
{
    private sealed record Sample(double Seconds, int Waiting, int Running, int Shift, double EstimateMs, double ObservedP95Ms);

    public static async Task<int> RunAsync(ModelZoo zoo, AdaptiveLoadSettings s, double batchDelayMs, CancellationToken ct)
    {
        string[] pools = [s.SmallPool, s.LargePool];
        FrontierProfile profile;
        try { profile = FrontierProfiles.Load([s.ProfilePath], pools).Loaded[0].Profile; }
        catch (InvalidDataException ex)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return 1;
        }
        if (profile.Sampler != "ddim" || profile.Steps != s.Steps)
            AnsiConsole.MarkupLine($"[yellow]The profile was measured for {Markup.Escape(profile.Sampler)} {profile.Steps} steps; " +
                $"the jobs are ddim {s.Steps} steps (its schedules carry over as fractions).[/]");
        var worst = profile.Front.Where(p => p.OffLargeFraction(s.LargePool) <= s.WorstSchedule + 1e-9)
            .MaxBy(p => p.OffLargeFraction(s.LargePool));
        var fixedMode = AdaptiveLoadSetup.Fixed(s);
        var adaptiveMode = AdaptiveLoadSetup.Adaptive(s);

        var manifests = pools.ToDictionary(p => p, zoo.ManifestPath);
        await using var cluster = await LoopbackCluster.StartAsync(manifests, orchestratorArgs: fixedMode.OrchestratorArgs,
            denoiserArgs: [$"--Denoiser:MaxBatchDelay={TimeSpan.FromMilliseconds(batchDelayMs)}"], cancellationToken: ct);
        var (adaptiveApp, adaptiveAddress) = await LoopbackCluster.StartOrchestratorHostAsync(cluster.Pools, "",
            adaptiveMode.OrchestratorArgs, ct);
        await using var _ = adaptiveApp;
        using var fixedChannel = GrpcChannels.Create(cluster.OrchestratorAddress);
        using var adaptiveChannel = GrpcChannels.Create(adaptiveAddress);
        var sides = new[]
        {
            (Mode: fixedMode, Client: new Orchestrator.OrchestratorClient(fixedChannel), App: cluster.Orchestrator!),
            (Mode: adaptiveMode, Client: new Orchestrator.OrchestratorClient(adaptiveChannel), App: adaptiveApp),
        };

        // Warm-up of both orchestrators' channels and the pools' ORT sessions, one job at a time, so the
        // adaptive side's live step costs start from an unloaded cluster.
        foreach (var side in sides)
            for (int i = 0; i < 3; i++)
                await side.Client.GenerateAsync(side.Mode.Request(i, s.Images, s.Steps), cancellationToken: ct);

        int clients = s.MaxRunningJobs;
        int repeats = Math.Max(1, s.CapacityRepeats);
        AnsiConsole.MarkupLine($"[grey]measuring capacity: {clients} closed-loop clients (every running slot busy), " +
            $"{s.CapacitySeconds / 2:0.#} s warm-up + {s.CapacitySeconds:0.#} s counted, {repeats} time(s) per schedule, the schedules " +
            "taking turns; medians...[/]");
        bool shifts = worst is not null && worst.OffLargeFraction(s.LargePool) > 0;
        var largeRuns = new List<Capacity>();
        var shiftedRuns = new List<Capacity>();
        for (int k = 0; k < repeats; k++)
        {
            largeRuns.Add(await CapacityAsync(sides[0].Client, i => fixedMode.Request(i, s.Images, s.Steps), clients, s.CapacitySeconds,
                ct));
            if (shifts)
                shiftedRuns.Add(await CapacityAsync(sides[0].Client, i =>
                {
                    var request = AdaptiveLoadSetup.Job(i, s.Images, s.Steps);
                    request.Stages = new StageList();
                    request.Stages.Stages.Add(worst!.Stages.Select(st => new Stage { Pool = st.Pool, Fraction = st.Fraction }));
                    return request;
                }, clients, s.CapacitySeconds, ct));
        }
        var large = Capacity.Median(largeRuns);
        var shifted = shifts ? Capacity.Median(shiftedRuns) : null;
        double capacity = large.JobsPerSecond;
        double rate = s.Between is { } between && shifted is not null
            ? capacity + between * (shifted.JobsPerSecond - capacity)
            : s.Overload * capacity;
        AnsiConsole.MarkupLine($"all-large capacity: [bold]{capacity:F2} jobs/s[/] ({capacity * s.Images:F1} images/s; " +
            $"latency at capacity p50 {large.P50Ms:F0} ms, p95 {large.P95Ms:F0} ms){Runs(largeRuns)}");
        if (shifted is not null)
            AnsiConsole.MarkupLine($"{Markup.Escape(worst!.ToString())} (the furthest the adaptive side may shift): " +
                $"{shifted.JobsPerSecond:F2} jobs/s ({shifted.JobsPerSecond / capacity:F2}x; p50 {shifted.P50Ms:F0} ms, " +
                $"p95 {shifted.P95Ms:F0} ms){Runs(shiftedRuns)}");
        AnsiConsole.MarkupLine($"offered: [bold]{rate:F2} jobs/s[/] = {rate / capacity:0.###} x all-large capacity" +
            (shifted is null ? "" : $", {rate / shifted.JobsPerSecond:0.###} x the furthest shift's"));
        if (shifted is { } w && w.JobsPerSecond < rate)
            AnsiConsole.MarkupLine($"[yellow]Even the furthest shift measured below the offered load ({w.JobsPerSecond:F2} < " +
                $"{rate:F2} jobs/s): " +
                "adaptive mode cannot keep up here; lower --overload or raise --worst-schedule.[/]");
        if (shifted is { } f && f.P95Ms > s.TargetMs)
            AnsiConsole.MarkupLine($"[yellow]The target ({s.TargetMs:0} ms) is below the p95 of the furthest shift with every slot busy " +
                $"({f.P95Ms:0} ms): no schedule the adaptive side may use is likely to meet it under this load.[/]");

        var arrivals = AdaptiveLoadSetup.ArrivalTimes(rate, s.WarmupSeconds + s.Seconds, s.ArrivalSeed);
        using var metric = StitchingSweep.MetricFor(zoo);
        var served = sides.ToDictionary(side => side.Mode.Name, _ => new List<ServedJob>());
        var timelines = new List<(string Label, List<Sample> Timeline, ServedJob[] Jobs)>();
        for (int round = 0; round < s.Rounds; round++)
            foreach (int which in AdaptiveLoadSetup.Order(round))
            {
                var side = sides[which];
                AnsiConsole.MarkupLine($"[grey]round {round + 1}, {Markup.Escape(side.Mode.Name)}: {arrivals.Count} jobs over " +
                    $"{arrivals[^1]:F1} s...[/]");
                long pauseBefore = (long)GC.GetTotalPauseDuration().TotalMilliseconds;
                int gen2Before = GC.CollectionCount(2);
                var (jobs, timeline) = await ReplayAsync(side.Mode, side.Client, side.App, round, arrivals, s, ct);
                AnsiConsole.MarkupLine($"[grey]  garbage collection during it: {GC.CollectionCount(2) - gen2Before} gen2, " +
                    $"{(long)GC.GetTotalPauseDuration().TotalMilliseconds - pauseBefore} ms paused in all[/]");
                jobs = ServedJob.Scored(jobs, metric); // between runs: not measured
                served[side.Mode.Name].AddRange(jobs);
                timelines.Add(($"round {round + 1}, {side.Mode.Name}", timeline, jobs));
                await SettleAsync(sides.Select(x => x.App.Services.GetRequiredService<LoadController>()), ct);
            }

        AnsiConsole.MarkupLine("[grey]scoring the served samples (FD proxy against the zoo's held-out images, as `tstitch sweep`)...[/]");
        var reports = sides.Select(side => ModeReport.From(side.Mode.Name, served[side.Mode.Name], rate, s.TargetMs, metric)).ToList();

        Print(reports, timelines, s, capacity, rate, profile);
        return 0;
    }

    /// <summary>
    /// Between runs: the live windows empty and the controller steps back to no shift (one point a second),
    /// so every run starts from an idle cluster; at most 20 s.
    /// </summary>
    private static async Task SettleAsync(IEnumerable<LoadController> controllers, CancellationToken ct)
    {
        await Task.Delay(PoolStepTimes.Window, ct);
        for (int i = 0; i < 40 && controllers.Any(c => c.Shift > 0); i++) await Task.Delay(TimeSpan.FromMilliseconds(500), ct);
    }

    private sealed record Capacity(double JobsPerSecond, double P50Ms, double P95Ms)
    {
        /// <summary>Median of each figure over repeated measurements.</summary>
        public static Capacity Median(List<Capacity> runs) =>
            new(Stats.Median(runs.Select(c => c.JobsPerSecond)), Stats.Median(runs.Select(c => c.P50Ms)),
                Stats.Median(runs.Select(c => c.P95Ms)));
    }

    private static string Runs(List<Capacity> runs) =>
        runs.Count < 2 ? "" : $" [grey](runs: {string.Join(", ", runs.Select(c => c.JobsPerSecond.ToString("F1")))} jobs/s)[/]";

    /// <summary>
    /// Jobs per second <paramref name="clients"/> closed-loop clients complete (each sends its next job as
    /// soon as the last returns), and those jobs' latency: completions counted for <paramref name="seconds"/>
    /// after half as long of warm-up.
    /// </summary>
    private static async Task<Capacity> CapacityAsync(Orchestrator.OrchestratorClient client, Func<int, GenerateRequest> job, int clients,
        double seconds, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        double warm = seconds / 2, end = warm + seconds;
        int next = 0;
        var counted = new List<double>();
        await Task.WhenAll(Enumerable.Range(0, clients).Select(async _ =>
        {
            while (clock.Elapsed.TotalSeconds < end)
            {
                long start = Stopwatch.GetTimestamp();
                await client.GenerateAsync(job(Interlocked.Increment(ref next)), cancellationToken: ct);
                double t = clock.Elapsed.TotalSeconds;
                if (t >= warm && t < end)
                    lock (counted) counted.Add(Stopwatch.GetElapsedTime(start).TotalMilliseconds);
            }
        }));
        return new Capacity(counted.Count / seconds, Stats.Percentile(counted, 0.5), Stats.Percentile(counted, 0.95));
    }

    /// <summary>
    /// Sends job i at arrivals[i] seconds (open loop: never waits for earlier jobs), each on its own call,
    /// and samples the orchestrator's queue and load controller once a second meanwhile.
    /// </summary>
    private static async Task<(ServedJob[] Jobs, List<Sample> Timeline)> ReplayAsync(LoadMode mode, Orchestrator.OrchestratorClient client,
        WebApplication app, int round, List<double> arrivals, AdaptiveLoadSettings s, CancellationToken ct)
    {
        var manager = app.Services.GetRequiredService<JobManager>();
        var controller = app.Services.GetRequiredService<LoadController>();
        var clock = Stopwatch.StartNew();
        var timeline = new List<Sample>();
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var sampling = SampleAsync();

        var calls = new Task<ServedJob>[arrivals.Count];
        for (int i = 0; i < arrivals.Count; i++)
        {
            double wait = arrivals[i] - clock.Elapsed.TotalSeconds;
            if (wait > 0.001) await Task.Delay(TimeSpan.FromSeconds(wait), ct);
            int index = i;
            calls[i] = Task.Run(() => SendAsync(index), CancellationToken.None);
        }
        var jobs = await Task.WhenAll(calls);
        await stop.CancelAsync();
        await sampling;
        return (jobs, timeline);

        async Task SampleAsync()
        {
            using var timer = new PeriodicTimer(TimeSpan.FromSeconds(1));
            try
            {
                do
                {
                    timeline.Add(new Sample(clock.Elapsed.TotalSeconds, manager.Waiting, manager.RunningJobs.Count, controller.Shift,
                        controller.LastEstimateMs, controller.LastObservedP95Ms));
                }
                while (await timer.WaitForNextTickAsync(stop.Token));
            }
            catch (OperationCanceledException) { /* the replay is over */ }
        }

        async Task<ServedJob> SendAsync(int index)
        {
            // Rounds get their own seeds and labels; within a round both modes send the same jobs.
            var request = mode.Request(round * arrivals.Count + index, s.Images, s.Steps);
            bool measured = arrivals[index] >= s.WarmupSeconds;
            double sent = clock.Elapsed.TotalSeconds;
            long start = Stopwatch.GetTimestamp();
            try
            {
                var result = await client.GenerateAsync(request, cancellationToken: ct);
                return ServedJob.From(round, index, measured, sent, Stopwatch.GetElapsedTime(start).TotalMilliseconds, request, result,
                    s.LargePool);
            }
            catch (RpcException ex) when (!ct.IsCancellationRequested)
            {
                return ServedJob.Failed(round, index, measured, sent, Stopwatch.GetElapsedTime(start).TotalMilliseconds, request,
                    $"{ex.StatusCode}: {ex.Status.Detail}");
            }
        }
    }

    private static void Print(List<ModeReport> reports, List<(string Label, List<Sample> Timeline, ServedJob[] Jobs)> timelines,
        AdaptiveLoadSettings s,
        double capacity, double rate, FrontierProfile profile)
    {
        var first = reports[0];
        var latency = new Table().Title($"{first.Jobs} measured jobs per mode ({s.Rounds} round(s) of {s.Seconds:0.#} s), " +
                $"{s.Images} images x {s.Steps} DDIM steps each; target {s.TargetMs:0} ms")
            .AddColumns("mode", "offered jobs/s", "served images/s", "p50 ms", "p95 ms", "p99 ms", "p95 within target", "failed");
        foreach (var r in reports)
            latency.AddRow(Markup.Escape(r.Mode), $"{r.OfferedJobsPerSecond:F2} ({r.OfferedJobsPerSecond / capacity:0.##}x)",
                $"{r.ThroughputImagesPerSecond:F1}", $"{r.P50Ms:F0}", $"{r.P95Ms:F0}", $"{r.P99Ms:F0}",
                r.WithinTarget ? "[green]yes[/]" : "[red]no[/]", r.Failed.ToString());
        AnsiConsole.Write(latency);
        var quality = new Table().Title("Quality of the samples each mode returned (FD proxy: lower is better)")
            .AddColumns("mode", "images", "mean r", "FD", "precision", "recall", "class acc");
        foreach (var r in reports)
            quality.AddRow(Markup.Escape(r.Mode), r.Images.ToString(), $"{r.MeanOffLargeShare:F3}", Q(r, q => q.FrechetDistance),
                Q(r, q => q.Precision), Q(r, q => q.Recall), Q(r, q => q.ClassAccuracy));
        AnsiConsole.Write(quality);
        foreach (var r in reports)
            AnsiConsole.MarkupLine($"{Markup.Escape(r.Mode)} served: " + Markup.Escape(string.Join(", ",
                r.Schedules.Select(x => $"{x.Schedule} x{x.Jobs} ({100.0 * x.Jobs / Math.Max(1, r.Jobs - r.Failed):0}%)"))));
        static string Row(IEnumerable<double> values) =>
            string.Join(" ",
                values.Select(v => double.IsNaN(v) ? "-" : v.ToString("F0", System.Globalization.CultureInfo.InvariantCulture)));
        foreach (var (label, timeline, jobs) in timelines)
        {
            // What jobs sent in each second took, next to what the queue and the controller showed then.
            var sentIn = Enumerable.Range(0, timeline.Count).Select(second => Stats.Percentile(
                jobs.Where(j => (int)j.SentAtSeconds == second).Select(j => j.LatencyMs), 0.5));
            string line = $"{label}, per second: waiting for a slot {Row(timeline.Select(t => (double)t.Waiting))}; " +
                $"p50 ms of the jobs sent {Row(sentIn)}";
            if (timeline.Any(t => t.Shift > 0 || t.EstimateMs > 0))
                line += $"; load shift {Row(timeline.Select(t => (double)t.Shift))}; controller's predicted ms " +
                    $"{Row(timeline.Select(t => t.EstimateMs))}; controller's measured p95 ms {Row(timeline.Select(t => t.ObservedP95Ms))}";
            AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        }
        AnsiConsole.MarkupLine(Markup.Escape(
            $"How: one loopback cluster (a small and a large pool, greedy batching) and two orchestrators over it, both with " +
            $"MaxRunningJobs {s.MaxRunningJobs}: fixed all-large is sent small_fraction 0; load-adaptive is sent no schedule " +
            $"(LatencyTarget {s.TargetMs:0} ms, profile '{profile.Family}' from {s.ProfilePath}, default schedule all-large, " +
            $"WorstSchedule {s.WorstSchedule:0.##}, reference job {s.Images} images, ControlInterval 1 s). All-large capacity: " +
            $"{s.MaxRunningJobs} closed-loop clients, {capacity:F2} jobs/s (median of {Math.Max(1, s.CapacityRepeats)} measurement(s), " +
            $"taking turns with the furthest shift). Arrivals: open-loop Poisson at {rate:F2} jobs/s " +
            $"({rate / capacity:0.###}x that capacity" +
            (s.Between is { } between ? $", {between:0.##} of the way to the furthest shift's" : "") + $"; seed {s.ArrivalSeed}), " +
            $"no client-side cap on jobs in flight; in each round both modes replay the same arrival " +
            $"times, labels and seeds, one mode after the other (order alternating by round, fixed first in round 1). Each run: " +
            $"{s.WarmupSeconds:0.#} s of warm-up arrivals (not measured), then {s.Seconds:0.#} s of measured arrivals; latency is " +
            $"client-side, from sending a request to its result, every measured job until the last is answered. Quality: FD proxy, " +
            $"precision, recall and class accuracy of the measured jobs' raw samples ({first.Images} images per mode) against the " +
            $"zoo's held-out images, as `tstitch sweep` scores them."));
    }

    private static string Q(ModeReport r, Func<QualityReport, double> value) => r.Quality is { } q ? $"{value(q):F3}" : "-";
}
