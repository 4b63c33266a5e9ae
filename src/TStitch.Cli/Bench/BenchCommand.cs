using System.CommandLine;
using Microsoft.Extensions.DependencyInjection;
using Spectre.Console;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch bench`: the cluster in stage mode and in step mode against the same job in process, and
/// the stitched speedup of each against its compute bound, measured side by side in one run
/// (interleaved repetitions, medians), so the ratios hold on whatever machine runs it. The headline
/// ratios are medians of per-round ratios: within a round the jobs they compare run back to back
/// (in alternating order), so a machine whose speed drifts between rounds (a shared VM does, by 2-3x
/// over seconds) moves both sides of each ratio together. It also measures what the design's data
/// movement costs on this machine (a latent batch over gRPC, and into the job store), which puts a floor
/// under the cluster's ratios however lean the rest is.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var batches = new Option<string>("--batch") { Description = "Comma-separated images per job.", DefaultValueFactory = _ => "16,64" };
        var steps = CliOptions.Steps();
        var repeats = new Option<int>("--repeats")
        {
            Description = "Timed jobs per configuration (after the warm-up rounds).",
            DefaultValueFactory = _ => 7,
        };
        var warmup = new Option<int>("--warmup")
        {
            Description = "Untimed rounds first, per batch size: the cluster's path (gRPC, Kestrel, the orchestrator) is JIT-tiered " +
                "to optimised code only after some hundred jobs.",
            DefaultValueFactory = _ => 20,
        };
        var smallFraction = CliOptions.SmallFraction();
        var redis = CliOptions.Redis();
        var intraOpThreads = new Option<int>("--intra-op-threads")
        {
            Description = "ONNX Runtime intra-op threads of the pools and of the in-process models alike (0: all cores). On a machine " +
                "where the cluster's plumbing shares the cores with the model runs, 1 leaves it a core, as separate machines would.",
            DefaultValueFactory = _ => 0,
        };
        var pinThreads = CliOptions.PinThreads();
        var showSamples = new Option<bool>("--samples")
        {
            Description = "Also print every timed job (ms, in round order) behind the medians.",
        };
        var command = new Command("bench",
            "Cluster (stage runs and per-step) vs in-process latency, and stitched speedup vs its compute bound.")
        {
            models, batches, steps, repeats, warmup, smallFraction, redis, intraOpThreads, pinThreads, showSamples,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!);
            int s = parse.GetValue(steps), n = parse.GetValue(repeats), w = Math.Max(1, parse.GetValue(warmup));
            double r = parse.GetValue(smallFraction);
            string redisAddress = parse.GetValue(redis)!;
            var pools = zoo.Manifests(ModelZoo.Small, ModelZoo.Large);
            int intra = parse.GetValue(intraOpThreads);
            bool pin = parse.GetValue(pinThreads);
            await using var cluster = await LoopbackCluster.StartAsync(pools, redisAddress,
                denoiserArgs: [$"--Denoiser:IntraOpThreads={intra}", $"--Denoiser:PinThreads={pin}"], cancellationToken: ct);
            var (stepApp, stepAddress) = await LoopbackCluster.StartOrchestratorHostAsync(cluster.Pools, redisAddress,
                ["--Orchestrator:RunMode=step"], ct);
            await using var _ = stepApp;
            var session = new OnnxSessionOptions { IntraOpThreads = intra, PinThreads = pin };
            using var small = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Small), session);
            using var large = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Large), session);
            AnsiConsole.MarkupLine($"{s} DDIM steps, r = {r}, job store: " +
                $"{(string.IsNullOrEmpty(redisAddress) ? "in memory" : "Redis " + redisAddress)}; " +
                                   $"medians of {n} interleaved rounds after {w} warm-up rounds; ONNX Runtime intra-op threads: " +
                $"{(intra > 0 ? intra.ToString() : "all cores")}{(pin ? ", pinned" : "")} ({Environment.ProcessorCount} cores, " +
                                       $"{System.Runtime.InteropServices.RuntimeInformation.OSDescription})");
            foreach (int b in parse.GetValue(batches)!.Split(',').Select(int.Parse))
            {
                var gcBefore = GcCounts.Now();
                var figures = await MeasureAsync(small, large, cluster.OrchestratorAddress, stepAddress, cluster.Pools,
                    cluster.Orchestrator!.Services.GetRequiredService<IJobStore>(), b, s, n, w, r, ct);
                Report(figures, b, s, r, new OrchestratorOptions().CheckpointEvery);
                if (parse.GetValue(showSamples))
                    foreach (var (key, values) in figures.Samples.Where(kv => !kv.Key.StartsWith("ort") && kv.Key != "echo")
                                 .OrderBy(kv => kv.Key, StringComparer.Ordinal))
                        Console.WriteLine($"  {key,-15} ms: " +
                            string.Join(" ", values.Select(v => v.ToString("F1", System.Globalization.CultureInfo.InvariantCulture))));
                // The whole cluster runs in this process, so these are its collections during the batch's runs.
                Console.WriteLine($"garbage collections during batch {b}: {GcCounts.Now().Since(gcBefore)}; " +
                    $"GC pause total {GC.GetTotalPauseDuration().TotalMilliseconds:F0} ms since start");
            }
            return 0;
        });
        return command;
    }

    private sealed record Figures(double OrtSmallMs, double OrtLargeMs, double EchoMs, double StoreWriteMs, double LocalLargeOnlyMs,
        double LocalStitchedMs, double LocalSmallOnlyMs, double DirectSmallMs,
        double DirectStageMs, double DirectStageNoCheckpointsMs, double StageLargeOnlyMs, double StageStitchedMs, double StepLargeOnlyMs,
        double StepStitchedMs, Paired Paired, IReadOnlyDictionary<string, List<double>> Samples);

    /// <summary>Medians of per-round ratios (see the class summary); speedups are job r = 0 / job r of the same round.</summary>
    private sealed record Paired(double DirectOverLocal, double DirectSmallOverLocal, double StageOverLocal, double StepOverLocal,
        double LocalSpeedup, double StageSpeedup, double StepSpeedup);

    private static async Task<Figures> MeasureAsync(OnnxDenoiser small, OnnxDenoiser large, string stageAddress, string stepAddress,
        Dictionary<string, string> poolAddresses, IJobStore store,
        int batch, int steps, int repeats, int warmupRounds, double r, CancellationToken ct)
    {
        var local = new Dictionary<string, IDenoiser> { [ModelZoo.Small] = small, [ModelZoo.Large] = large };
        var (echoApp, echoAddress) = await EchoDenoiser.StartAsync(ct);
        await using var _ = echoApp;
        using var stageChannel = GrpcChannels.Create(stageAddress);
        using var stepChannel = GrpcChannels.Create(stepAddress);
        using var echoChannel = GrpcChannels.Create(echoAddress);
        var stageMode = new Orchestrator.OrchestratorClient(stageChannel);
        var stepMode = new Orchestrator.OrchestratorClient(stepChannel);
        var echo = new Denoiser.DenoiserClient(echoChannel);
        using var poolChannel = GrpcChannels.Create(poolAddresses[ModelZoo.Large]);
        var pool = new Denoiser.DenoiserClient(poolChannel);
        using var smallPoolChannel = GrpcChannels.Create(poolAddresses[ModelZoo.Small]);
        var smallPool = new Denoiser.DenoiserClient(smallPoolChannel);

        var labels = Enumerable.Range(0, batch).Select(i => i % small.Info.NumClasses).ToArray();
        var latents = new float[batch * small.Info.SampleSize];
        StepNoise.Fill(latents, 1, 0, 0);
        var ortInput = new DenoiseInput(latents, Enumerable.Repeat(500, batch).ToArray(), labels, 1f);
        var echoRequest = new DenoiseRequest { Latents = TensorMessages.FromFloats(latents, batch, 3, 32, 32), GuidanceScale = 1 };
        echoRequest.Timesteps.AddRange(ortInput.Timesteps);
        echoRequest.ClassLabels.AddRange(labels);

        GenerateRequest Job(double fraction)
        {
            var g = new GenerateRequest { Steps = steps, SmallFraction = fraction, Seed = 3, Sampler = "ddim", Output = OutputKind.Raw };
            g.ClassLabels.AddRange(labels);
            return g;
        }
        Task<double> LocalJob(double fraction) => Stats.TimeAsync(async () =>
        {
            var t = new Trajectory(new TrajectoryRequest(labels, steps, SamplerKind.Ddim, SwitchSchedule.SmallThenLarge(fraction,
                ModelZoo.Small, ModelZoo.Large), 1f, 3), local);
            await t.RunAsync(t.Start(), cancellationToken: ct);
        });
        // The large pool running the whole trajectory as one stage, called straight (no orchestrator, no job store).
        var trajectory = new Trajectory(new TrajectoryRequest(labels, steps, SamplerKind.Ddim, SwitchSchedule.OneModel(ModelZoo.Large), 1f,
            3), local);
        var stageRun = new StageRunRequest
        {
            Trajectory = StageRunMessages.ToParameters(trajectory.Request,
                large.Info), ToStep = steps, CheckpointEvery = new OrchestratorOptions().CheckpointEvery, JobId = "bench",
            State = StageRunMessages.ToCheckpoint(trajectory.Start(), large.Info, copy: true),
        };
        var withoutCheckpoints = stageRun.Clone();
        withoutCheckpoints.CheckpointEvery = 0;
        // The small pool alone over the whole trajectory: the replica's per-step cost next to the smallest step.
        var smallOnly = new TrajectoryRequest(labels, steps, SamplerKind.Ddim, SwitchSchedule.OneModel(ModelZoo.Small), 1f, 3);
        var smallRun = new StageRunRequest
        {
            Trajectory = StageRunMessages.ToParameters(smallOnly, small.Info), ToStep = steps, JobId = "bench",
            State = new SamplerCheckpoint { Step = 0 },
        };
        Task<double> LocalSmallJob() => Stats.TimeAsync(async () =>
        {
            var t = new Trajectory(smallOnly, local);
            await t.RunAsync(t.Start(), cancellationToken: ct);
        });
        Task<double> DirectStage(StageRunRequest run, Denoiser.DenoiserClient? to = null) => Stats.TimeAsync(async () =>
        {
            using var call = (to ?? pool).RunStage(run, cancellationToken: ct);
            while (await call.ResponseStream.MoveNext(ct)) { }
        });
        Task<double> ClusterJob(Orchestrator.OrchestratorClient client, double fraction) =>
            Stats.TimeAsync(() => client.GenerateAsync(Job(fraction), cancellationToken: ct).ResponseAsync);

        // A checkpoint's job store write (the orchestrator's store: Redis or memory), of this batch's latents.
        var record = new JobRecord
        {
            Id = $"bench-store-{Guid.NewGuid():N}", Owner = "bench", LeaseUntil = DateTimeOffset.UtcNow.AddHours(1), Steps = steps,
            Spec = new JobSpec(labels, steps, SamplerKind.Ddim, [new SwitchStage(ModelZoo.Large, 1)], 1f, 3, 0, ResultFormat.Raw),
            Status = JobStatus.Running, Latents = latents, CheckpointStep = steps / 2,
        };
        await store.CreateAsync(record, ct);
        Task<double> StoreWrite() => Stats.TimeAsync(() => store.SaveAsync(record, ct));

        var samples = new Dictionary<string, List<double>>();
        void Add(string key, double ms, bool warmUp) { if (!warmUp) (samples.TryGetValue(key, out var l) ? l : samples[key] = []).Add(ms); }
        await AnsiConsole.Status().StartAsync($"batch {batch}: measuring (interleaved)...", async status =>
        {
            for (int i = -warmupRounds; i < repeats; i++)
            {
                status.Status($"batch {batch}: round {i + warmupRounds + 1} of {repeats + warmupRounds}" + (i < 0 ? " (warm-up)" : ""));
                bool warm = i < 0;
                for (int k = 0; k < 10; k++)
                {
                    Add("ort-small", Stats.Time(() => small.Run(ortInput, ct)), warm);
                    Add("ort-large", Stats.Time(() => large.Run(ortInput, ct)), warm);
                    Add("echo", await Stats.TimeAsync(() => echo.DenoiseAsync(echoRequest, cancellationToken: ct).ResponseAsync), warm);
                    Add("store-write", await StoreWrite(), warm);
                }
                Add("direct-stage", await DirectStage(stageRun), warm);
                // The jobs a ratio compares run back to back, first one way round, then the other.
                var jobs = new (string Key, Func<Task<double>> Run)[]
                {
                    ("local-small", LocalSmallJob), ("direct-small", () => DirectStage(smallRun, smallPool)),
                    ("local-0", () => LocalJob(0)), ("direct-stage-0", () => DirectStage(withoutCheckpoints)),
                    ("stage-0", () => ClusterJob(stageMode, 0)), ("step-0", () => ClusterJob(stepMode, 0)),
                    ("local-r", () => LocalJob(r)), ("stage-r", () => ClusterJob(stageMode, r)), ("step-r", () => ClusterJob(stepMode, r)),
                };
                foreach (var (key, run) in i % 2 == 0 ? jobs : jobs.Reverse())
                    Add(key, await run(), warm);
            }
        });
        double M(string key) => Stats.Median(samples[key]);
        double PairedMedian(Func<int, double> ratio) => Stats.Median(Enumerable.Range(0, repeats).Select(ratio));
        double At(string key, int round) => samples[key][round];
        await store.SaveAsync(record.Finish(JobStatus.Cancelled, FailureKind.Cancelled, "bench record", DateTimeOffset.UtcNow), ct);
        var paired = new Paired(PairedMedian(k => At("direct-stage-0", k) / At("local-0", k)),
            PairedMedian(k => At("direct-small", k) / At("local-small", k)),
            PairedMedian(k => At("stage-0", k) / At("local-0", k)), PairedMedian(k => At("step-0", k) / At("local-0", k)),
            PairedMedian(k => At("local-0", k) / At("local-r", k)), PairedMedian(k => At("stage-0", k) / At("stage-r", k)),
            PairedMedian(k => At("step-0", k) / At("step-r", k)));
        return new Figures(M("ort-small"), M("ort-large"), M("echo"), M("store-write"), M("local-0"), M("local-r"), M("local-small"),
            M("direct-small"), M("direct-stage"), M("direct-stage-0"), M("stage-0"),
            M("stage-r"), M("step-0"), M("step-r"), paired, samples);
    }

    /// <summary>
    /// How often a stage-mode job moves its latent batch, over gRPC and into the job store. On the job's
    /// path (the job waits for them): each stage's final state to the orchestrator, each later stage's
    /// request, the result to the caller, and the finished record's write. Behind the run (the replica
    /// steps on meanwhile, but on a machine with few cores their CPU is the run's): mid-stage checkpoints
    /// to the orchestrator, and the writes of those and of each stage boundary.
    /// </summary>
    private static LatentMoves CountLatentMoves(double r, int steps, int checkpointEvery)
    {
        var spans = SwitchSchedule.SmallThenLarge(r, ModelZoo.Small, ModelZoo.Large).Spans(steps).Where(x => x.Steps > 0).ToList();
        int midStage = spans.Sum(x => (x.Steps - 1) / checkpointEvery);
        return new LatentMoves(spans.Count + (spans.Count - 1) + 1, 1, midStage, midStage + spans.Count - 1);
    }

    private sealed record LatentMoves(int PathTransfers, int PathWrites, int BehindTransfers, int BehindWrites)
    {
        /// <summary>Milliseconds for the moves on the path: transfers at half an echo (one way) each, writes at one store write.</summary>
        public double PathMs(Figures f) => PathTransfers * f.EchoMs / 2 + PathWrites * f.StoreWriteMs;
        public double BehindMs(Figures f) => BehindTransfers * f.EchoMs / 2 + BehindWrites * f.StoreWriteMs;
        public override string ToString() => $"{PathTransfers} + {PathWrites} on the path, {BehindTransfers} + {BehindWrites} behind";
    }

    private static void Report(Figures f, int batch, int steps, double r, int checkpointEvery)
    {
        double c = f.OrtSmallMs / f.OrtLargeMs;
        double bound = 1 / ((1 - r) + r * c);
        double localSpeedup = f.LocalLargeOnlyMs / f.LocalStitchedMs;
        double stageSpeedup = f.StageLargeOnlyMs / f.StageStitchedMs, stepSpeedup = f.StepLargeOnlyMs / f.StepStitchedMs;
        var t = new Table().Title($"batch {batch}").AddColumns("measure", "stage mode", "step mode", "how");
        t.AddRow("ORT run, small / large", $"{f.OrtSmallMs:F3} / {f.OrtLargeMs:F3} ms", "", $"OnnxDenoiser.Run, batch {batch}, in process");
        t.AddRow("c = small / large", $"{c:F3}", "", "ratio of the two medians");
        t.AddRow("gRPC echo, one hop", $"{f.EchoMs:F3} ms", "", "Denoise RPC to a host answering with its input, same payload, loopback");
        t.AddRow("job store write of the latents", $"{f.StoreWriteMs:F3} ms", "",
            "the orchestrator's store (Redis or memory), one checkpoint");
        t.AddRow("job in process, r = 0 / r", $"{f.LocalLargeOnlyMs:F1} / {f.LocalStitchedMs:F1} ms", "", "Trajectory over OnnxDenoisers");
        t.AddRow("r = 0 as one RunStage call straight to the large pool", $"{f.DirectStageMs:F1} ms", "",
            "no orchestrator, no job store, a checkpoint every CheckpointEvery steps (default)");
        t.AddRow("same, no checkpoints", $"{f.DirectStageNoCheckpointsMs:F1} ms (paired / in process: {f.Paired.DirectOverLocal:F3}x)", "",
            "checkpoint_every 0: only the final state comes back; the replica's own cost over the library's");
        t.AddRow("small pool alone: one RunStage / in process", $"{f.DirectSmallMs:F1} / {f.LocalSmallOnlyMs:F1} ms (paired " +
            $"{f.Paired.DirectSmallOverLocal:F3}x)", "",
            "all steps on the small model, no checkpoints: the replica's cost at the smallest step");
        t.AddRow("job through the cluster, r = 0 / r", $"{f.StageLargeOnlyMs:F1} / {f.StageStitchedMs:F1} ms",
            $"{f.StepLargeOnlyMs:F1} / {f.StepStitchedMs:F1} ms",
            "Orchestrator.Generate, raw output");
        t.AddRow("per step above in process (r = 0)", $"{(f.StageLargeOnlyMs - f.LocalLargeOnlyMs) / steps:F3} ms",
            $"{(f.StepLargeOnlyMs - f.LocalLargeOnlyMs) / steps:F3} ms",
            "(cluster job - in-process job) / steps");
        t.AddRow("cluster / in process (r = 0), ratio of medians", $"{f.StageLargeOnlyMs / f.LocalLargeOnlyMs:F3}x",
            $"{f.StepLargeOnlyMs / f.LocalLargeOnlyMs:F3}x", "");
        var p = f.Paired;
        t.AddRow("[bold]cluster / in process (r = 0), paired[/]", $"[bold]{p.StageOverLocal:F3}x[/]", $"{p.StepOverLocal:F3}x",
            "median of per-round ratios; goal <= 1.05x (stage mode)");
        t.AddRow("speedup at r, in process", $"{localSpeedup:F2}x (paired {p.LocalSpeedup:F2}x)", "", "job r = 0 / job r");
        t.AddRow("speedup at r, cluster", $"{stageSpeedup:F2}x (paired {p.StageSpeedup:F2}x)",
            $"{stepSpeedup:F2}x (paired {p.StepSpeedup:F2}x)", "job r = 0 / job r");
        t.AddRow("compute bound", $"{bound:F2}x", "", "1 / ((1 - r) + r c)");
        t.AddRow("in-process speedup / bound", $"{localSpeedup / bound:F2} (paired {p.LocalSpeedup / bound:F2})", "",
            "the sampler's own work per step does not shrink with the model");
        t.AddRow("[bold]cluster speedup / bound, paired[/]", $"[bold]{p.StageSpeedup / bound:F2}[/]", $"{p.StepSpeedup / bound:F2}",
            $"goal >= 0.95 (stage mode); ratio of medians: {stageSpeedup / bound:F2} / {stepSpeedup / bound:F2}");
        // What the design's data movement alone adds to the in-process job: a floor under the two goals.
        var (moves0, movesR) = (CountLatentMoves(0, steps, checkpointEvery), CountLatentMoves(r, steps, checkpointEvery));
        t.AddRow("latent moves per job, r = 0 / r", $"{moves0} / {movesR}", "",
            "gRPC transfers + job store writes of the batch (stage mode, a checkpoint every " + checkpointEvery + " steps)");
        double path0 = moves0.PathMs(f), pathR = movesR.PathMs(f), behind0 = moves0.BehindMs(f), behindR = movesR.BehindMs(f);
        t.AddRow("their cost, r = 0 / r", $"{path0:F1} / {pathR:F1} ms on the path, {behind0:F1} / {behindR:F1} behind", "",
            "transfers x echo / 2 + writes x store write");
        t.AddRow("ratios with only the path's moves added", $"{(f.LocalLargeOnlyMs + path0) / f.LocalLargeOnlyMs:F3}x; speedup / bound " +
            $"{(f.LocalLargeOnlyMs + path0) / (f.LocalStitchedMs + pathR) / bound:F2}", "",
            "in-process medians plus the moves the job waits for: a floor under the two goals on this machine");
        // Moves behind the run cost CPU the run shares when everything runs on a few cores (as here).
        double all0 = path0 + behind0, allR = pathR + behindR;
        t.AddRow("same, with the moves behind the run", $"{(f.LocalLargeOnlyMs + all0) / f.LocalLargeOnlyMs:F3}x; speedup / bound " +
            $"{(f.LocalLargeOnlyMs + all0) / (f.LocalStitchedMs + allR) / bound:F2}", "",
            "the floor where the orchestrator, the pools and Redis share the cores");
        AnsiConsole.Write(t);
    }
}
