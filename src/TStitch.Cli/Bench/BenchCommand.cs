using TStitch.LocalCluster;
using System.CommandLine;
using System.Diagnostics;
using Grpc.Net.Client;
using Spectre.Console;
using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch bench`: the cluster against the in-process loop and a bare gRPC echo, measured side by
/// side in one run (interleaved repetitions, medians), so the ratios hold on whatever machine runs it.
/// </summary>
internal static class BenchCommand
{
    public static Command Create()
    {
        var models = new Option<string>("--models") { Description = "Model zoo folder (built if absent).", DefaultValueFactory = _ => "models" };
        var batch = new Option<int>("--batch") { Description = "Images per job (and per Denoise call).", DefaultValueFactory = _ => 16 };
        var steps = new Option<int>("--steps") { Description = "Sampling steps per job.", DefaultValueFactory = _ => 50 };
        var repeats = new Option<int>("--repeats") { Description = "Timed jobs per configuration (after one warm-up).", DefaultValueFactory = _ => 7 };
        var smallFraction = new Option<double>("--small-fraction") { DefaultValueFactory = _ => 0.4 };
        var redis = new Option<string>("--redis") { Description = "Redis for the job store (host:port); empty = in memory.", DefaultValueFactory = _ => "" };
        var command = new Command("bench", "Per-step orchestration overhead vs a bare gRPC echo, cluster vs in-process latency, stitched speedup vs its compute bound.")
        {
            models, batch, steps, repeats, smallFraction, redis,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!);
            int b = parse.GetValue(batch), s = parse.GetValue(steps), n = parse.GetValue(repeats);
            double r = parse.GetValue(smallFraction);
            string redisAddress = parse.GetValue(redis)!;
            var result = await RunAsync(zoo, b, s, n, r, redisAddress, ct);
            Report(result, b, s, n, r, redisAddress);
            return 0;
        });
        return command;
    }

    private sealed record Figures(double OrtSmallMs, double OrtLargeMs, double EchoMs, double DirectMs, double DirectRunMs, double BalancedMs, double RemoteLargeOnlyMs, double LocalLargeOnlyMs, double LocalStitchedMs,
        double ClusterLargeOnlyMs, double ClusterStitchedMs);

    private static async Task<Figures> RunAsync(ModelZoo zoo, int batch, int steps, int repeats, double r, string redis, CancellationToken ct)
    {
        using var small = new OnnxDenoiser(zoo.ManifestPath("small"));
        using var large = new OnnxDenoiser(zoo.ManifestPath("large"));
        var local = new Dictionary<string, IDenoiser> { ["small"] = small, ["large"] = large };
        await using var cluster = await LoopbackCluster.StartAsync(
            new Dictionary<string, string> { ["small"] = zoo.ManifestPath("small"), ["large"] = zoo.ManifestPath("large") }, redis, cancellationToken: ct);
        var (echoApp, echoAddress) = await EchoDenoiser.StartAsync(ct);
        await using var _ = echoApp;
        using var orchestratorChannel = GrpcChannels.Create(cluster.OrchestratorAddress);
        using var echoChannel = GrpcChannels.Create(echoAddress);
        var orchestrator = new Orchestrator.OrchestratorClient(orchestratorChannel);
        var echo = new Denoiser.DenoiserClient(echoChannel);
        using var largeChannel = GrpcChannels.Create(cluster.Pools["large"]);
        var largePool = new Denoiser.DenoiserClient(largeChannel);
        using var balancedChannel = TStitch.Orchestration.PoolChannel.Create("large", cluster.Pools["large"], new TStitch.Orchestration.OrchestratorOptions());
        var balancedPool = new Denoiser.DenoiserClient(balancedChannel);

        // The orchestrator's own pool clients, driven from here: separates the trajectory over remote
        // pools from what the Orchestrator service adds around it (job store, job tasks, its RPC).
        using var pools = new TStitch.Orchestration.DenoiserPools(Microsoft.Extensions.Options.Options.Create(
            new TStitch.Orchestration.OrchestratorOptions { Pools = new Dictionary<string, string>(cluster.Pools) }));
        var remote = (await pools.ResolveAsync(["small", "large"], ct)).ToDictionary(p => p.Key, p => (IDenoiser)new TStitch.Orchestration.RemoteDenoiser(p.Value, "bench"));
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
        Task<double> TrajectoryJob(double fraction, IReadOnlyDictionary<string, IDenoiser> models) => Stats.TimeAsync(async () =>
        {
            var t = new Trajectory(new TrajectoryRequest(labels, steps, SamplerKind.Ddim, SwitchSchedule.SmallThenLarge(fraction, ModelZoo.Small, ModelZoo.Large), 1f, 3), models);
            await t.RunAsync(t.Start(), cancellationToken: ct);
        });
        Task<double> LocalJob(double fraction) => TrajectoryJob(fraction, local);
        Task<double> ClusterJob(double fraction) => Stats.TimeAsync(() => orchestrator.GenerateAsync(Job(fraction), cancellationToken: ct).ResponseAsync);
        double Ort(OnnxDenoiser model) => Stats.Time(() => model.Run(ortInput, ct));
        Task<double> Echo() => Stats.TimeAsync(() => echo.DenoiseAsync(echoRequest, cancellationToken: ct).ResponseAsync);
        async Task<(double, double)> Direct()
        {
            long start = Stopwatch.GetTimestamp();
            var reply = await largePool.DenoiseAsync(echoRequest, cancellationToken: ct);
            return (Stopwatch.GetElapsedTime(start).TotalMilliseconds, reply.RunMs);
        }

        var samples = new Dictionary<string, List<double>>();
        void Add(string key, double ms, bool warmUp) { if (!warmUp) (samples.TryGetValue(key, out var l) ? l : samples[key] = []).Add(ms); }
        await AnsiConsole.Status().StartAsync("measuring (interleaved)...", async status =>
        {
            for (int i = -1; i < repeats; i++)
            {
                status.Status($"round {i + 2} of {repeats + 1}");
                bool warm = i < 0;
                for (int k = 0; k < steps; k++) { Add("ort-small", Ort(small), warm); Add("ort-large", Ort(large), warm); Add("echo", await Echo(), warm);
                    var (direct, run) = await Direct();
                    Add("direct", direct, warm);
                    Add("direct-run", run, warm);
                    Add("balanced", await Stats.TimeAsync(() => balancedPool.DenoiseAsync(echoRequest, cancellationToken: ct).ResponseAsync), warm);
                }
                Add("local-0", await LocalJob(0), warm);
                Add("local-r", await LocalJob(r), warm);
                Add("remote-0", await TrajectoryJob(0, remote), warm);
                Add("cluster-0", await ClusterJob(0), warm);
                Add("cluster-r", await ClusterJob(r), warm);
            }
        });
        double M(string key) => Stats.Median(samples[key]);
        return new Figures(M("ort-small"), M("ort-large"), M("echo"), M("direct"), M("direct-run"), M("balanced"), M("remote-0"), M("local-0"), M("local-r"), M("cluster-0"), M("cluster-r"));
    }

    private static void Report(Figures f, int batch, int steps, int repeats, double r, string redis)
    {
        double c = f.OrtSmallMs / f.OrtLargeMs;
        double bound = 1 / ((1 - r) + r * c);
        double clusterStep = f.ClusterLargeOnlyMs / steps, localStep = f.LocalLargeOnlyMs / steps;
        double overhead = clusterStep - localStep;
        double clusterSpeedup = f.ClusterLargeOnlyMs / f.ClusterStitchedMs, localSpeedup = f.LocalLargeOnlyMs / f.LocalStitchedMs;

        AnsiConsole.MarkupLine($"batch {batch}, {steps} DDIM steps, r = {r}, job store: {(string.IsNullOrEmpty(redis) ? "in memory" : "Redis " + redis)}; " +
                               $"medians of {repeats} interleaved rounds after one warm-up ({Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription})");
        var t = new Table().AddColumns("measure", "value", "how");
        t.AddRow("ORT run, small", $"{f.OrtSmallMs:F3} ms", $"OnnxDenoiser.Run, batch {batch}, in process");
        t.AddRow("ORT run, large", $"{f.OrtLargeMs:F3} ms", "same");
        t.AddRow("c = small / large", $"{c:F3}", "ratio of the two medians");
        t.AddRow("gRPC echo, one hop", $"{f.EchoMs:F3} ms", "Denoise RPC to a host answering with its input, same payload, loopback");
        t.AddRow("Denoise RPC to the large pool", $"{f.DirectMs:F3} ms", $"same payload, straight to the pool; {f.DirectRunMs:F3} ms of it inside the service (validate + ORT)");
        t.AddRow("same, over the orchestrator's pool channel", $"{f.BalancedMs:F3} ms", "health-checked resolver, round robin, retry policy");
        t.AddRow("step, in process (large)", $"{localStep:F3} ms", "in-process job time / steps (ORT + sampler)");
        t.AddRow("step, trajectory here over the pools", $"{f.RemoteLargeOnlyMs / steps:F3} ms", "this process runs the trajectory with the orchestrator's pool clients (no Orchestrator service)");
        t.AddRow("step, cluster (large)", $"{clusterStep:F3} ms", "Generate time / steps, through orchestrator and pool");
        t.AddRow("orchestration overhead / step", $"{overhead:F3} ms", "cluster step - in-process step");
        t.AddRow("[bold]overhead / echo[/]", $"[bold]{overhead / f.EchoMs:F2}x[/]", "goal <= 1.2x");
        t.AddRow("job, in process, r = 0 / r", $"{f.LocalLargeOnlyMs:F1} / {f.LocalStitchedMs:F1} ms", "Trajectory over OnnxDenoisers");
        t.AddRow("job, cluster, r = 0 / r", $"{f.ClusterLargeOnlyMs:F1} / {f.ClusterStitchedMs:F1} ms", "Orchestrator.Generate, raw output");
        t.AddRow("cluster / in process (r = 0)", $"{f.ClusterLargeOnlyMs / f.LocalLargeOnlyMs:F2}x", $"hop share of a cluster step: {overhead / clusterStep:P0}");
        t.AddRow("speedup, in process", $"{localSpeedup:F2}x", "job r = 0 / job r");
        t.AddRow("speedup, cluster", $"{clusterSpeedup:F2}x", "job r = 0 / job r");
        t.AddRow("compute bound", $"{bound:F2}x", "1 / ((1 - r) + r c)");
        t.AddRow("[bold]cluster speedup / bound[/]", $"[bold]{clusterSpeedup / bound:F2}[/]", "goal >= 0.95");
        AnsiConsole.Write(t);
    }
}
