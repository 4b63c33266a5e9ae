using System.Diagnostics;
using Grpc.Net.Client;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using TStitch.LocalCluster;
using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Orchestration;
using TStitch.Contracts;

namespace TStitch.Cluster.Tests;

/// <summary>
/// A real cluster on loopback: redis-server as a child process, the zoo built into a temp folder,
/// a small and a large denoiser host. Orchestrators are started per test (they are what tests kill).
/// </summary>
public sealed class ClusterFixture : IAsyncLifetime
{
    private Process? _redis;
    public string ZooDirectory { get; } = Path.Combine(Path.GetTempPath(), $"tstitch-cluster-tests-{Environment.ProcessId}");
    public int RedisPort { get; private set; }
    public string Redis => $"127.0.0.1:{RedisPort}";
    public ConnectionMultiplexer RedisConnection { get; private set; } = null!;
    public WebApplication Small { get; private set; } = null!;
    public WebApplication Large { get; private set; } = null!;
    public string SmallAddress { get; private set; } = "";
    public string LargeAddress { get; private set; } = "";

    public async Task InitializeAsync()
    {
        RedisPort = FreePort();
        var redisServer = new[] { "/usr/bin/redis-server", "/usr/local/bin/redis-server" }.FirstOrDefault(File.Exists)
            ?? throw new InvalidOperationException(
                "redis-server is not installed: run `apt-get install redis-server` (scripts/test.sh does).");
        _redis = Process.Start(new ProcessStartInfo(redisServer, $"--port {RedisPort} --bind 127.0.0.1 --save \"\" --appendonly no")
        { RedirectStandardOutput = true, UseShellExecute = false })!;
        for (int i = 0; ; i++)
        {
            try { RedisConnection = await ConnectionMultiplexer.ConnectAsync($"{Redis},abortConnect=true,connectTimeout=500"); break; }
            catch (RedisConnectionException) when (i < 50) { await Task.Delay(100); }
        }
        ModelZoo.Build(ZooDirectory, new ZooOptions());
        (Small, SmallAddress) = await StartDenoiserAsync("small");
        (Large, LargeAddress) = await StartDenoiserAsync("large");
    }

    public Task<(WebApplication App, string Address)> StartDenoiserAsync(string model, params string[] extra) =>
        LoopbackCluster.StartDenoiserHostAsync(model, Path.Combine(ZooDirectory, model + ".json"), extra);

    public long Runs(WebApplication denoiser) => denoiser.Services.GetRequiredService<OnnxDenoiser>().Runs;

    public async Task<OrchestratorHandle> StartOrchestratorAsync(params string[] extra)
    {
        var (app, address) = await LoopbackCluster.StartOrchestratorHostAsync(
            new Dictionary<string, string> { ["small"] = SmallAddress, ["large"] = LargeAddress }, Redis, extra);
        return new OrchestratorHandle(app, GrpcChannels.Create(address));
    }

    public RedisJobStore Store => new(RedisConnection, TimeSpan.FromHours(1), TimeProvider.System);

    public static int FreePort() => LoopbackCluster.FreePort();

    public async Task DisposeAsync()
    {
        foreach (var app in new[] { Small, Large }.Where(a => a is not null)) await app.DisposeAsync();
        RedisConnection?.Dispose();
        if (_redis is { HasExited: false }) { _redis.Kill(); await _redis.WaitForExitAsync(); }
        try { Directory.Delete(ZooDirectory, true); } catch (IOException) { }
    }
}

public sealed class OrchestratorHandle(WebApplication app, GrpcChannel channel) : IAsyncDisposable
{
    public WebApplication App { get; } = app;
    public Orchestrator.OrchestratorClient Client { get; } = new(channel);

    public async ValueTask DisposeAsync()
    {
        // Stop the host first: disposing the channel first would look like callers cancelling.
        await App.StopAsync();
        await App.DisposeAsync();
        channel.Dispose();
    }
}

[CollectionDefinition(Name)]
public sealed class ClusterCollection : ICollectionFixture<ClusterFixture>
{
    public const string Name = "cluster";
}
