using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text.Json.Nodes;
using Grpc.Core;
using TStitch.Contracts;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Cli.Bench;

/// <summary>
/// `tstitch bench-dit`: honest costs of an exported pair at real size (bench/dit.sh and bench/sd.sh export
/// the models first). ORT CPU time per call of the small and large export at batch 1 and 8 (text
/// families: 1 and 2, a guided step's batch), parameter counts against the published ones, the measured
/// cost ratio against the FLOP ratio, then the cluster at r = 0 and r with each replica a separate OS
/// process (so its RSS is its own) and an orchestrator in stage and in step mode. Text families (SD
/// UNets) need --text-encoder and run one prompt with guidance 7.5, as SD's pipelines do.
/// Prints markdown for docs/benchmarks.md.
/// </summary>
internal static class BenchDitCommand
{
    // Published figures (DiT paper, Table 4): parameters and GFLOPs per forward at 256.
    private static readonly Dictionary<string, (double Params, double Gflops)> Published = new()
    {
        ["DiT-S/2"] = (33e6, 6.06), ["DiT-B/2"] = (130e6, 23.01), ["DiT-L/2"] = (458e6, 80.71), ["DiT-XL/2"] = (675e6, 118.64),
        // BK-SDM's model card: U-Net parameters 0.86B (SD-v1.4) and 0.33B (BK-SDM-Tiny); no FLOP count quoted here.
        ["UNet sd-v1"] = (860e6, double.NaN), ["UNet bk-sdm-tiny"] = (330e6, double.NaN),
    };

    public static Command Create()
    {
        var small = new Option<string>("--small") { Description = "Small model manifest (export_dit.py).", Required = true };
        var large = new Option<string>("--large") { Description = "Large model manifest.", Required = true };
        var extra = new Option<string[]>("--also") { Description = "More manifests to time with ORT only (e.g. B/2)." };
        var replica = new Option<string>("--replica-dll")
        {
            Description = "Built denoiser service (services/SmallDenoiser/bin/.../SmallDenoiser.dll).", Required = true,
        };
        var steps = new Option<int>("--steps") { DefaultValueFactory = _ => 10 };
        var repeats = new Option<int>("--repeats") { DefaultValueFactory = _ => 3 };
        var fraction = new Option<double>("--small-fraction") { DefaultValueFactory = _ => 0.4 };
        var textEncoder = new Option<string?>("--text-encoder") { Description = "Text-encoder manifest, for a text family (SD UNets)." };
        var command = new Command("bench-dit",
            "Exported-pair costs (DiT or SD): ORT per call, parameters, cost vs FLOP ratio, cluster speedup vs bound, replica RSS.")
        {
            small, large, extra, replica, steps, repeats, fraction, textEncoder,
        };
        command.SetAction(async (parse, ct) =>
        {
            string s = Path.GetFullPath(parse.GetValue(small)!), l = Path.GetFullPath(parse.GetValue(large)!);
            string? text = parse.GetValue(textEncoder) is { } t ? Path.GetFullPath(t) : null;
            await RunAsync(s, l, (parse.GetValue(extra) ?? []).Select(Path.GetFullPath).ToArray(),
                Path.GetFullPath(parse.GetValue(replica)!), parse.GetValue(steps), parse.GetValue(repeats), parse.GetValue(fraction), text,
                ct);
            return 0;
        });
        return command;
    }

    private static string F(double v, string format = "F1") => double.IsNaN(v) ? "n/a" : v.ToString(format, CultureInfo.InvariantCulture);

    private static async Task RunAsync(string smallPath, string largePath, string[] also, string replicaDll, int steps, int repeats,
        double r, string? textEncoder, CancellationToken ct)
    {
        bool text = ModelManifest.Load(largePath).Conditioning.Text is not null;
        if (text && textEncoder is null) throw new ArgumentException("The models are conditioned on text: give --text-encoder.");
        int big = text ? 2 : 8;
        // Other work on the machine inflates every timing: the load average says how much there was.
        Console.WriteLine($"{Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}; " +
                          $"medians after one warm-up; load average at start: {File.ReadAllText("/proc/loadavg").Trim()}.\n");
        Console.WriteLine($"| model | parameters (published) | ONNX bytes | ORT batch 1 | ORT batch {big} | published GFLOPs |");
        Console.WriteLine("|---|---|---|---|---|---|");
        var stepMs = new Dictionary<string, double>();
        foreach (var path in new[] { smallPath, largePath }.Concat(also))
        {
            // One model loaded at a time: the in-process figures never share memory or cores with another model.
            var (arch, count, bytes) = Describe(path);
            using var model = new OnnxDenoiser(path);
            double b1 = OrtMs(model, 1, repeats + 2, ct), bBig = OrtMs(model, big, repeats, ct);
            // A guided text step runs two rows (prompt and negative), so the pair's cost ratio is taken at batch 2 there.
            stepMs[path] = text ? bBig : b1;
            var pub = Published.GetValueOrDefault(arch, (Params: double.NaN, Gflops: double.NaN));
            string published = double.IsNaN(pub.Params) ? "n/a" : F(pub.Params / 1e6, "F0") + "M";
            Console.WriteLine($"| {arch} | {F(count / 1e6, "F2")}M ({published}) | {F(bytes / 1048576.0)} MiB | {F(b1)} ms | " +
                $"{F(bBig)} ms ({F(bBig / big)} ms/sample) | {F(pub.Gflops, "F2")} |");
        }
        var (smallArch, _, smallBytes) = Describe(smallPath);
        var (largeArch, _, largeBytes) = Describe(largePath);
        double c = stepMs[smallPath] / stepMs[largePath];
        double flopRatio = Published.TryGetValue(largeArch, out var pl) && Published.TryGetValue(smallArch, out var ps)
            ? pl.Gflops / ps.Gflops
            : double.NaN;
        Console.WriteLine($"\nMeasured cost ratio {largeArch} / {smallArch} at batch {(text ? 2 : 1)}: {F(1 / c, "F1")}x " +
            $"(c = {F(c, "F3")}); FLOP ratio {F(flopRatio, "F1")}x.\n");

        // Replicas as separate processes: their RSS is theirs alone.
        using var smallReplica = StartReplica(replicaDll, smallPath, "small");
        using var largeReplica = StartReplica(replicaDll, largePath, "large");
        var pools = new Dictionary<string, string> { ["small"] = smallReplica.Address, ["large"] = largeReplica.Address };
        await WaitReadyAsync(smallReplica.Address, ct);
        await WaitReadyAsync(largeReplica.Address, ct);
        string[] quiet =
            ["--Orchestrator:StepTimeout=00:05:00", .. text ? [$"--Orchestrator:TextEncoder={textEncoder}"] : Array.Empty<string>()];
        var (stageApp, stageAddress) = await LoopbackCluster.StartOrchestratorHostAsync(pools, "", quiet, ct);
        await using var _ = stageApp;
        var (stepApp, stepAddress) =
            await LoopbackCluster.StartOrchestratorHostAsync(pools, "", [.. quiet, "--Orchestrator:RunMode=step"], ct);
        await using var __ = stepApp;
        using var stageChannel = GrpcChannels.Create(stageAddress);
        using var stepChannel = GrpcChannels.Create(stepAddress);
        var modes = new Dictionary<string, Orchestrator.OrchestratorClient>
        {
            ["stage"] = new(stageChannel), ["step"] = new(stepChannel),
        };
        var samples = new Dictionary<string, List<double>>();
        for (int i = -1; i < repeats; i++)
            foreach (var (mode, client) in modes)
            foreach (var fraction in new[] { 0, r })
            {
                var g = new GenerateRequest
                {
                    Steps = steps, SmallFraction = fraction, Seed = 3, Sampler = "ddim", Output = OutputKind.Raw,
                };
                if (text) { g.Prompts.Add("a photograph of an astronaut riding a horse"); g.GuidanceScale = 7.5f; }
                else g.ClassLabels.Add(207);
                double ms = await Stats.TimeAsync(() => client.GenerateAsync(g, cancellationToken: ct).ResponseAsync);
                if (i >= 0) (samples.TryGetValue($"{mode}-{fraction}", out var list) ? list : samples[$"{mode}-{fraction}"] = []).Add(ms);
            }
        double bound = 1 / ((1 - r) + r * c);
        string promptNote = text
            ? " (one prompt, guidance 7.5: two UNet rows a step; the prompt encoded once per job in the orchestrator)"
            : "";
        Console.WriteLine($"Cluster, {steps} DDIM steps, batch 1{promptNote}, " +
            $"pools small = {smallArch}, large = {largeArch}, {repeats} interleaved rounds:\n");
        Console.WriteLine($"| mode | job r = 0 | job r = {F(r, "0.##")} | speedup | compute bound 1/((1-r)+rc) | speedup / bound |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var mode in modes.Keys)
        {
            double j0 = Stats.Median(samples[$"{mode}-0"]), jr = Stats.Median(samples[$"{mode}-{r}"]);
            Console.WriteLine($"| {mode} | {F(j0, "F0")} ms | {F(jr, "F0")} ms | {F(j0 / jr, "F2")}x | {F(bound, "F2")}x | " +
                $"{F(j0 / jr / bound, "F2")} |");
        }
        Console.WriteLine($"\nLoad average after the cluster runs: {File.ReadAllText("/proc/loadavg").Trim()}.");
        Console.WriteLine("\n| replica | model bytes | VmRSS after the runs | VmHWM (peak) | RSS - model bytes | goal <= model + 200 MB |");
        Console.WriteLine("|---|---|---|---|---|---|");
        foreach (var (replica, bytes, arch) in new[] { (smallReplica, smallBytes, smallArch), (largeReplica, largeBytes, largeArch) })
        {
            var (rss, hwm) = replica.Memory();
            double over = (rss - bytes) / 1e6;
            Console.WriteLine($"| {replica.Pool} ({arch}) | {F(bytes / 1e6, "F0")} MB | {F(rss / 1e6, "F0")} MB | " +
                $"{F(hwm / 1e6, "F0")} MB | {F(over, "F0")} MB | {(over <= 200 ? "met" : "missed")} |");
        }
    }

    /// <summary>Architecture, parameter count and ONNX bytes (graph + external data) from an export_dit.py manifest.</summary>
    private static (string Arch, long Params, long Bytes) Describe(string manifestPath)
    {
        var json = JsonNode.Parse(File.ReadAllText(manifestPath))!.AsObject();
        string dir = Path.GetDirectoryName(manifestPath)!;
        long bytes = new FileInfo(Path.Combine(dir, (string)json["onnx"]!)).Length;
        if (json["externalData"] is { } data) bytes += new FileInfo(Path.Combine(dir, (string)data!)).Length;
        return ((string?)json["architecture"] ?? "?", (long?)json["parameterCount"] ?? 0, bytes);
    }

    private static double OrtMs(OnnxDenoiser model, int batch, int runs, CancellationToken ct)
    {
        var info = model.Info;
        var latents = new float[batch * info.SampleSize];
        StepNoise.Fill(latents, 1, 0, 0);
        var input = info.Text is { } text
            ? new DenoiseInput(latents, Enumerable.Repeat(500, batch).ToArray(), [], 1f) { Context = Noise(batch * text.Size) }
            : new DenoiseInput(latents, Enumerable.Repeat(500, batch).ToArray(),
                Enumerable.Range(0, batch).Select(i => i * 97 % info.NumClasses).ToArray(), 1f);
        model.Run(input, ct); // warm-up
        return Stats.Median(Enumerable.Range(0, runs).Select(_ => Stats.Time(() => model.Run(input, ct))).ToArray());
    }

    private static float[] Noise(int length)
    {
        var values = new float[length];
        StepNoise.Fill(values, 2, 0, 0);
        return values;
    }

    private static async Task WaitReadyAsync(string address, CancellationToken ct)
    {
        using var channel = GrpcChannels.Create(address);
        var client = new Denoiser.DenoiserClient(channel);
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                await client.GetModelInfoAsync(new GetModelInfoRequest(), cancellationToken: ct);
                return;
            }
            catch (RpcException) when (clock.Elapsed < TimeSpan.FromMinutes(5))
            {
                await Task.Delay(500, ct);
            }
        }
    }

    private static Replica StartReplica(string dll, string manifest, string pool)
    {
        int port = LoopbackCluster.FreePort();
        var info = new ProcessStartInfo("dotnet")
        {
            ArgumentList = { dll }, WorkingDirectory = Path.GetDirectoryName(dll)!,
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        info.Environment["Denoiser__Model"] = manifest;
        info.Environment["Urls"] = LoopbackCluster.Address(port);
        info.Environment["Logging__LogLevel__Default"] = "Warning";
        // The appsettings' metrics port is one per host.
        info.Environment["Telemetry__MetricsPort"] = LoopbackCluster.FreePort().ToString(CultureInfo.InvariantCulture);
        var process = Process.Start(info) ?? throw new InvalidOperationException($"Could not start {dll}.");
        process.OutputDataReceived += (_, _) => { };
        process.ErrorDataReceived += (_, e) => { if (e.Data is { } line) Console.Error.WriteLine($"[{pool}] {line}"); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        return new Replica(pool, LoopbackCluster.Address(port), process);
    }

    private sealed record Replica(string Pool, string Address, Process Process) : IDisposable
    {
        /// <summary>VmRSS and VmHWM of the replica process, in bytes (what /proc/self/status says inside it).</summary>
        public (long Rss, long Hwm) Memory()
        {
            var lines = File.ReadAllLines($"/proc/{Process.Id}/status");
            long Kb(string key) => long.Parse(lines.First(l => l.StartsWith(key, StringComparison.Ordinal))
                .Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            return (Kb("VmRSS:"), Kb("VmHWM:"));
        }

        public void Dispose()
        {
            if (!Process.HasExited) Process.Kill();
            Process.WaitForExit(10000);
            Process.Dispose();
        }
    }
}
