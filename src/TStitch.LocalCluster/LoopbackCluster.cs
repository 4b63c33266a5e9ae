using System.Net;
using System.Net.Sockets;
using Microsoft.AspNetCore.Builder;
using TStitch.Denoising;
using TStitch.Orchestration;

namespace TStitch.LocalCluster;

/// <summary>
/// The cluster in one process: denoiser pools and an orchestrator, each a real gRPC server on its own
/// loopback port (the demo, the benchmark and the cluster tests start it the same way).
/// </summary>
public sealed class LoopbackCluster : IAsyncDisposable
{
    private readonly List<WebApplication> _apps = [];

    /// <summary>Pool name -> address of its denoiser.</summary>
    public Dictionary<string, string> Pools { get; } = new();
    /// <summary>Pool name -> its denoiser host (for reading its batcher's counters).</summary>
    public Dictionary<string, WebApplication> Denoisers { get; } = new();
    public string OrchestratorAddress { get; private set; } = "";
    public WebApplication? Orchestrator { get; private set; }

    /// <summary>Quiet hosts: warnings only, the in-memory store's restart warning muted (callers say it).</summary>
    public static readonly string[] QuietLogging =
        ["--Logging:LogLevel:Default=Warning", "--Logging:LogLevel:TStitch.Orchestration.InMemoryJobStore=Error"];

    public static string Address(int port) => $"http://127.0.0.1:{port}";

    /// <summary>Starts one pool per manifest (name -> model.json), then the orchestrator over them.</summary>
    public static async Task<LoopbackCluster> StartAsync(IReadOnlyDictionary<string, string> poolManifests, string redis = "",
        IEnumerable<string>? orchestratorArgs = null, IEnumerable<string>? denoiserArgs = null,
        CancellationToken cancellationToken = default)
    {
        var cluster = new LoopbackCluster();
        try
        {
            foreach (var (pool, manifest) in poolManifests)
                (cluster.Denoisers[pool], cluster.Pools[pool]) = await cluster.StartDenoiserAsync(pool, manifest, denoiserArgs,
                    cancellationToken);
            await cluster.StartOrchestratorAsync(redis, orchestratorArgs ?? [], cancellationToken);
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    public async Task<(WebApplication App, string Address)> StartDenoiserAsync(string pool, string manifest,
        IEnumerable<string>? extra = null,
        CancellationToken cancellationToken = default)
    {
        var started = await StartDenoiserHostAsync(pool, manifest, extra, cancellationToken);
        _apps.Add(started.App);
        return started;
    }

    private async Task StartOrchestratorAsync(string redis, IEnumerable<string> extra, CancellationToken cancellationToken)
    {
        (Orchestrator, OrchestratorAddress) = await StartOrchestratorHostAsync(Pools, redis, extra, cancellationToken);
        _apps.Add(Orchestrator);
    }

    /// <summary>One started denoiser replica on a free loopback port (the caller owns and disposes it).</summary>
    public static async Task<(WebApplication App, string Address)> StartDenoiserHostAsync(string pool, string manifest,
        IEnumerable<string>? extra = null, CancellationToken cancellationToken = default)
    {
        int port = FreePort();
        var app = DenoiserHost.Create([$"--urls={Address(port)}", $"--Denoiser:Model={Path.GetFullPath(manifest)}", .. QuietLogging,
            .. extra ?? []], $"{pool}-denoiser");
        await app.StartAsync(cancellationToken);
        return (app, Address(port));
    }

    /// <summary>
    /// One started orchestrator over <paramref name="pools"/>; later <paramref name="extra"/> settings override earlier ones.
    /// </summary>
    public static async Task<(WebApplication App, string Address)> StartOrchestratorHostAsync(IReadOnlyDictionary<string, string> pools,
        string redis,
        IEnumerable<string>? extra = null, CancellationToken cancellationToken = default)
    {
        int port = FreePort();
        var app = OrchestratorApp.Create([$"--urls={Address(port)}", $"--Orchestrator:Redis={redis}",
            .. pools.Select(p => $"--Orchestrator:Pools:{p.Key}={p.Value}"), .. QuietLogging, .. extra ?? []]);
        await app.StartAsync(cancellationToken);
        return (app, Address(port));
    }

    private static readonly HashSet<int> HandedOut = [];

    /// <summary>
    /// A free loopback port: bind port 0, read what the OS chose, release it. Never the same port twice
    /// in one process: a port handed out is only bound later (by a host or a child process), and the OS
    /// may offer it again in between.
    /// </summary>
    public static int FreePort()
    {
        while (true)
        {
            using var listener = new TcpListener(IPAddress.Loopback, 0);
            listener.Start();
            int port = ((IPEndPoint)listener.LocalEndpoint).Port;
            lock (HandedOut)
                if (HandedOut.Add(port)) return port;
        }
    }

    /// <summary>Stops the orchestrator first (its jobs stay resumable), then the pools.</summary>
    public async ValueTask DisposeAsync()
    {
        for (int i = _apps.Count - 1; i >= 0; i--)
        {
            try { await _apps[i].StopAsync(CancellationToken.None); }
            catch (OperationCanceledException) { /* already stopping */ }
            await _apps[i].DisposeAsync();
        }
        _apps.Clear();
    }
}
