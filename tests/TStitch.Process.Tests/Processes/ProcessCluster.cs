using TStitch.LocalCluster;
using System.Diagnostics;
using Grpc.Net.Client;
using TStitch.Models.Zoo;
using TStitch.Process.Tests.Otlp;
using TStitch.Contracts;

namespace TStitch.Process.Tests;

/// <summary>
/// The deployable cluster as separate OS processes, configured only through environment variables
/// (as a container would be): redis-server, the SmallDenoiser, LargeDenoiser and Orchestrator
/// executables built from services/, each on its own loopback port, all exporting OTLP to an
/// in-process <see cref="OtlpReceiver"/>. The zoo is built once into a temp folder. Processes are
/// addressed by name (<see cref="Redis"/>, <see cref="Small"/>, <see cref="Large"/>,
/// <see cref="Orchestrator"/>) for fault tests: <see cref="Kill"/> is kill -9, <see cref="StartAgainAsync"/>
/// restarts with the same port and environment. Everything is killed on dispose.
/// </summary>
public sealed class ProcessCluster : IAsyncLifetime
{
    public const string Redis = "redis";
    public const string Small = "small-denoiser";
    public const string Large = "large-denoiser";
    public const string Orchestrator = "orchestrator";

    /// <summary>Start-up bound per process (a cold .NET host plus ONNX Runtime session on 2 cores takes a few seconds).</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(60);

    private readonly Dictionary<string, ServiceProcess> _processes = new();
    private readonly Dictionary<string, int> _ports = new();
    private readonly Dictionary<string, int> _metricsPorts = new();
    private GrpcChannel? _orchestratorChannel;

    public string WorkDirectory { get; } =
        Path.Combine(Path.GetTempPath(), $"tstitch-process-tests-{System.Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}");
    public string ZooDirectory => Path.Combine(WorkDirectory, "models");
    public string LogDirectory => Path.Combine(WorkDirectory, "logs");
    public OtlpReceiver Otlp { get; private set; } = null!;
    /// <summary>How long <see cref="InitializeAsync"/> took, per phase, for test output.</summary>
    public string StartupTimings { get; private set; } = "";

    public IReadOnlyDictionary<string, ServiceProcess> Processes => _processes;
    public ServiceProcess this[string name] => _processes.TryGetValue(name, out var p)
        ? p
        : throw new KeyNotFoundException($"No process '{name}' (known: {string.Join(", ", _processes.Keys)}).");
    public int Port(string name) => _ports[name];
    public string Address(string name) => LoopbackCluster.Address(_ports[name]);
    /// <summary>Where a service process serves Prometheus /metrics (HTTP/1.1).</summary>
    public string MetricsAddress(string name) => LoopbackCluster.Address(_metricsPorts[name]);
    public string RedisEndpoint => $"127.0.0.1:{_ports[Redis]}";

    /// <summary>A client of the orchestrator process (its channel reconnects after a restart).</summary>
    public Contracts.Orchestrator.OrchestratorClient Client { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        var clock = Stopwatch.StartNew();
        var timings = new List<string>();
        try
        {
            Directory.CreateDirectory(LogDirectory);
            Otlp = await OtlpReceiver.StartAsync();
            foreach (var name in new[] { Redis, Small, Large, Orchestrator }) _ports[name] = LoopbackCluster.FreePort();

            var redis = Add(CreateRedis(_ports[Redis]));
            var redisStart = redis.StartAsync(StartTimeout);
            ModelZoo.Build(ZooDirectory, new ZooOptions());
            timings.Add($"zoo {clock.Elapsed.TotalSeconds:F1} s");
            await redisStart;

            var small = Add(CreateDenoiser(Small, "SmallDenoiser", "small", _ports[Small]));
            var large = Add(CreateDenoiser(Large, "LargeDenoiser", "large", _ports[Large]));
            await Task.WhenAll(small.StartAsync(StartTimeout), large.StartAsync(StartTimeout));
            timings.Add($"denoisers ready {clock.Elapsed.TotalSeconds:F1} s");

            var orchestrator = Add(CreateOrchestrator(Orchestrator, _ports[Orchestrator],
                new Dictionary<string, string> { ["small"] = Address(Small), ["large"] = Address(Large) }));
            await orchestrator.StartAsync(StartTimeout);
            timings.Add($"orchestrator ready {clock.Elapsed.TotalSeconds:F1} s");

            _orchestratorChannel = GrpcChannels.Create(Address(Orchestrator));
            Client = new Contracts.Orchestrator.OrchestratorClient(_orchestratorChannel);
            StartupTimings = string.Join(", ", timings);
        }
        catch (Exception ex)
        {
            // xunit does not dispose a fixture whose initialisation threw: clean up here, and say why.
            var logs = string.Join("\n", _processes.Values.Select(p => p.Describe(40)));
            await DisposeAsync();
            throw new ServiceStartException($"The process cluster did not start ({ex.GetType().Name}: {ex.Message}).\n{logs}");
        }
    }

    private ServiceProcess Add(ServiceProcess process)
    {
        _processes.Add(process.Name, process);
        return process;
    }

    /// <summary>redis-server with an append-only file (fsync per write), so a restart after kill -9 keeps the job store.</summary>
    public ServiceProcess CreateRedis(int port, string name = Redis)
    {
        var server = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "redis-server is not installed: run `apt-get install redis-server` (scripts/test.sh does).");
        var data = Directory.CreateDirectory(Path.Combine(WorkDirectory, name + "-data")).FullName;
        return new ServiceProcess(name, server,
            ["--port", port.ToString(), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "yes", "--appendfsync", "always", "--dir", data],
            new Dictionary<string, string>(), ReadinessProbes.RedisPing(port), LogFile(name), data);
    }

    /// <summary>A denoiser host (services/&lt;project&gt;) serving &lt;zoo&gt;/&lt;model&gt;.json on <paramref name="port"/>.</summary>
    public ServiceProcess CreateDenoiser(string name, string project, string model, int port,
        IReadOnlyDictionary<string, string>? extra = null, TestCertificate? tls = null) =>
        CreateService(name, project, port, new Dictionary<string, string>
        {
            ["Denoiser__Model"] = Path.Combine(ZooDirectory, model + ".json"),
            ["Denoiser__BuildZooIfMissing"] = "false",
        }, extra, tls);

    /// <summary>An orchestrator host over <paramref name="pools"/> (pool name -> address list) with this cluster's Redis.</summary>
    public ServiceProcess CreateOrchestrator(string name, int port, IReadOnlyDictionary<string, string> pools,
        IReadOnlyDictionary<string, string>? extra = null, TestCertificate? tls = null)
    {
        var env = new Dictionary<string, string> { ["Orchestrator__Redis"] = RedisEndpoint };
        foreach (var (pool, address) in pools) env[$"Orchestrator__Pools__{pool}"] = address;
        return CreateService(name, "Orchestrator", port, env, extra, tls);
    }

    /// <summary>https://127.0.0.1:<paramref name="port"/> (the address a service started with a certificate listens on).</summary>
    public static string HttpsAddress(int port) => $"https://127.0.0.1:{port}";

    private ServiceProcess CreateService(string name, string project, int port, Dictionary<string, string> env,
        IReadOnlyDictionary<string, string>? extra, TestCertificate? tls = null)
    {
        var dll = RepoPaths.ServiceDll(project);
        string address = tls is null ? LoopbackCluster.Address(port) : HttpsAddress(port);
        env["Urls"] = address;
        if (tls is not null)
        {
            // Kestrel's standard certificate keys, as a container would set them.
            env["Kestrel__Certificates__Default__Path"] = tls.PfxFile;
            env["Kestrel__Certificates__Default__Password"] = tls.Password;
        }
        // Each process scrapes on its own free port (the appsettings' fixed ones would collide between runs).
        _metricsPorts[name] = LoopbackCluster.FreePort();
        env["Telemetry__MetricsPort"] = _metricsPorts[name].ToString();
        env["DOTNET_ENVIRONMENT"] = "Production";
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = Otlp.Endpoint;
        env["OTEL_EXPORTER_OTLP_PROTOCOL"] = "grpc";
        env["OTEL_BSP_SCHEDULE_DELAY"] = "200";
        env["OTEL_METRIC_EXPORT_INTERVAL"] = "500";
        env["Logging__LogLevel__Default"] = "Information";
        env["Logging__LogLevel__Microsoft.AspNetCore"] = "Warning";
        foreach (var (key, value) in extra ?? new Dictionary<string, string>()) env[key] = value;
        // The service's own folder is its content root, so its appsettings.json applies under the environment.
        return new ServiceProcess(name, "dotnet", [dll], env, ReadinessProbes.GrpcHealth(address, tls?.CaFile),
            LogFile(name), Path.GetDirectoryName(dll));
    }

    private string LogFile(string name) => Path.Combine(LogDirectory, name + ".log");

    /// <summary>kill -9 of one process (waits until it is gone).</summary>
    public void Kill(string name) => this[name].Kill();

    /// <summary>Starts a killed or stopped process again: same port, same environment; waits until it is ready.</summary>
    public Task StartAgainAsync(string name) => this[name].StartAsync(StartTimeout);

    /// <summary>Name, state and log tail of every process, for failure messages.</summary>
    public string DescribeAll(int lines = 30) => string.Join("\n", _processes.Values.Select(p => p.Describe(lines)));

    public async Task DisposeAsync()
    {
        var errors = new List<Exception>();
        // Clients first, then the callers before their dependencies.
        _orchestratorChannel?.Dispose();
        foreach (var process in _processes.Values.Reverse())
        {
            try { await process.DisposeAsync(); }
            catch (Exception ex) { errors.Add(ex); }
        }
        if (Otlp is not null) await Otlp.DisposeAsync();
        if (System.Environment.GetEnvironmentVariable("TSTITCH_KEEP_TEST_LOGS") != "1")
            try { Directory.Delete(WorkDirectory, true); } catch (IOException) { }
        if (errors.Count > 0) throw new AggregateException("Stopping the process cluster failed.", errors);
    }
}
