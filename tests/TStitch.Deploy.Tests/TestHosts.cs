using Microsoft.AspNetCore.Builder;
using TStitch.Hosting;

namespace TStitch.Deploy.Tests;

/// <summary>A bare service host with the shared service defaults (gRPC, health, TLS from configuration), as every service has.</summary>
public static class TestHosts
{
    public static async Task<WebApplication> StartAsync(string[] args)
    {
        var builder = WebApplication.CreateBuilder(args);
        builder.AddServiceDefaults("deploy-test");
        var app = builder.Build();
        app.MapDefaultEndpoints();
        await app.StartAsync();
        return app;
    }

    /// <summary>
    /// The deadline of a probe a test expects to succeed: the first TLS and gRPC call of a host in this process, with
    /// kubectl and other test classes on the same cores, can take longer than the probe's own default.
    /// </summary>
    public static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(15);

    /// <summary>A free loopback port not handed out before in this process (test classes run side by side).</summary>
    public static int FreePort() => TStitch.LocalCluster.LoopbackCluster.FreePort();
}
