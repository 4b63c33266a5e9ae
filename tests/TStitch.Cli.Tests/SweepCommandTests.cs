using TStitch.LocalCluster;
using TStitch.Models.Zoo;

namespace TStitch.Cli.Tests;

/// <summary>`tstitch sweep --orchestrator` against a cluster whose orchestrator requires an API key.</summary>
public sealed class SweepCommandTests : IAsyncLifetime
{
    private const string ApiKey = "cli-test-api-key-0123456789abcdef";
    private readonly string _dir = Path.Combine(Path.GetTempPath(), $"tstitch-cli-tests-{Guid.NewGuid():N}");
    private LoopbackCluster? _cluster;

    public async Task InitializeAsync()
    {
        var zoo = ModelZoo.Build(_dir, new ZooOptions());
        _cluster = await LoopbackCluster.StartAsync(
            zoo.Manifests(ModelZoo.Small, ModelZoo.Large),
            orchestratorArgs: [$"--Auth:ApiKeys:0={ApiKey}"]);
    }

    private Task<int> SweepAsync(params string[] extra) => SweepCommand.Create().Parse(
    [
        "--models", _dir, "--samples", "4", "--batch", "4", "--steps", "4", "--fractions", "0,1", .. extra,
    ]).InvokeAsync();

    [Fact]
    public async Task Through_an_orchestrator_the_sweep_sends_the_api_key_and_fails_cleanly_without_it_or_with_a_bad_ca_file()
    {
        string profile = Path.Combine(_dir, "profile.json");
        Assert.Equal(0, await SweepAsync("--orchestrator", _cluster!.OrchestratorAddress, "--api-key", ApiKey, "--profile", profile));
        Assert.True(File.Exists(profile)); // both schedules measured through the keyed orchestrator

        // No key (TSTITCH_API_KEY unset here): the orchestrator refuses the first call; the command says so and exits 1.
        Assert.Null(Environment.GetEnvironmentVariable(CliOptions.ApiKeyVariable));
        Assert.Equal(1, await SweepAsync("--orchestrator", _cluster.OrchestratorAddress));
        Assert.Equal(1, await SweepAsync("--orchestrator", _cluster.OrchestratorAddress, "--api-key", ApiKey + "x"));
        // A CA file that does not exist: a message and exit 1, not a crash.
        Assert.Equal(1, await SweepAsync("--orchestrator", "https://127.0.0.1:1", "--ca-cert", Path.Combine(_dir, "missing-ca.pem")));
    }

    public async Task DisposeAsync()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
