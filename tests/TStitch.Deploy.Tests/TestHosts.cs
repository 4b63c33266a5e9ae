using System.Net;
using System.Net.Sockets;
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

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }
}
