using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Grpc.Health.V1;
using TStitch.Contracts;
using TStitch.Hosting;

using static TStitch.Deploy.Tests.TestHosts;

namespace TStitch.Deploy.Tests;

/// <summary>
/// What the deployment relies on in every service host: Urls still choose the gRPC endpoint when a
/// metrics port is set, /metrics is served over HTTP/1.1 on that port only, and --health-probe
/// answers from the configured gRPC port.
/// </summary>
public sealed class HostingEndpointTests
{
    [Fact]
    public async Task MetricsPort_AddsAnHttp1MetricsEndpoint_AndKeepsUrlsForGrpc()
    {
        int grpc = FreePort(), metrics = FreePort();
        string[] args = [$"--urls=http://127.0.0.1:{grpc}", $"--Telemetry:MetricsPort={metrics}"];
        await using var app = await StartAsync(args);

        var output = new StringWriter();
        Assert.Equal(0, await HealthProbe.RunAsync(args, output, TestHosts.ProbeTimeout));
        Assert.Contains($"127.0.0.1:{grpc}: Serving", output.ToString());
        Assert.Equal(0, await HealthProbe.RunAsync([.. args, $"--service={ServiceDefaults.LivenessService}"], TextWriter.Null,
            TestHosts.ProbeTimeout));

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(10) };
        var scrape = await http.GetAsync($"http://127.0.0.1:{metrics}/metrics");
        Assert.Equal(HttpStatusCode.OK, scrape.StatusCode);
        Assert.Equal(new Version(1, 1), scrape.Version);
        Assert.Contains("target_info", await scrape.Content.ReadAsStringAsync());

        // The gRPC port stays HTTP/2-only: an HTTP/1.1 request gets no metrics there.
        var wrongPort = await Record.ExceptionAsync(async () =>
        {
            var r = await http.GetAsync($"http://127.0.0.1:{grpc}/metrics");
            Assert.NotEqual(HttpStatusCode.OK, r.StatusCode);
        });
        Assert.True(wrongPort is null or HttpRequestException, wrongPort?.ToString());
    }

    [Fact]
    public async Task WithoutMetricsPort_OnlyTheUrlsAreServed()
    {
        int grpc = FreePort();
        string[] args = [$"--urls=http://127.0.0.1:{grpc}"];
        await using var app = await StartAsync(args);
        Assert.Equal([$"http://127.0.0.1:{grpc}"], app.Urls);
        Assert.Equal(0, await HealthProbe.RunAsync(args, TextWriter.Null, TestHosts.ProbeTimeout));
    }

    [Fact]
    public async Task Probe_FollowsAnHttpsUrl_OverTls()
    {
        string pfx = PfxFor("service.example");
        try
        {
            int grpc = FreePort();
            string[] args = [$"--urls=https://127.0.0.1:{grpc}", $"--Kestrel:Certificates:Default:Path={pfx}",
                "--Kestrel:Certificates:Default:Password=pw"];
            await using var app = await StartAsync(args);
            var output = new StringWriter();
            Assert.Equal(0, await HealthProbe.RunAsync(args, output, TestHosts.ProbeTimeout));
            Assert.Contains($"https://127.0.0.1:{grpc}: Serving", output.ToString());
        }
        finally { File.Delete(pfx); }
    }

    [Fact]
    public async Task Probe_over_tls_accepts_only_the_services_own_certificate()
    {
        string served = PfxFor("service.example"), other = PfxFor("service.example");
        try
        {
            int grpc = FreePort();
            string[] args = [$"--urls=https://127.0.0.1:{grpc}", $"--Kestrel:Certificates:Default:Path={served}",
                "--Kestrel:Certificates:Default:Password=pw"];
            await using var app = await StartAsync(args);
            // The same names and issuer, another key: what a man in the middle would show.
            string[] probeArgs = [$"--urls=https://127.0.0.1:{grpc}", $"--Kestrel:Certificates:Default:Path={other}",
                "--Kestrel:Certificates:Default:Password=pw"];
            var output = new StringWriter();
            Assert.Equal(1, await HealthProbe.RunAsync(probeArgs, output));
            Assert.DoesNotContain("Serving", output.ToString());
            Assert.Equal(0, await HealthProbe.RunAsync(args, TextWriter.Null, TestHosts.ProbeTimeout));
        }
        finally
        {
            File.Delete(served);
            File.Delete(other);
        }
    }

    [Fact]
    public async Task A_certificate_replaced_under_a_running_service_is_served_and_probed_without_a_restart()
    {
        using var secret = new SecretFiles("service.example");
        string[] args = [$"--urls=https://127.0.0.1:{FreePort()}", $"--Kestrel:Certificates:Default:Path={secret.CertificateFile}",
            $"--Kestrel:Certificates:Default:KeyPath={secret.KeyFile}"];
        await using var app = await StartAsync(args);
        Assert.Equal(0, await HealthProbe.RunAsync(args, TextWriter.Null, TestHosts.ProbeTimeout));

        secret.Renew(); // a new certificate and key, as cert-manager writes them into the mounted Secret
        // The probe pins the certificate now in the files: it finds the service serving only if the service serves
        // that one too.
        var output = new StringWriter();
        Assert.Equal(0, await HealthProbe.RunAsync(args, output, TestHosts.ProbeTimeout));
        Assert.Contains("Serving", output.ToString());
    }

    [Fact]
    public async Task A_certificate_from_an_intermediate_ca_is_served_with_its_chain_to_a_client_trusting_only_the_root()
    {
        using var secret = new SecretFiles("localhost", viaIntermediate: true);
        int grpc = FreePort();
        await using var app = await StartAsync([$"--urls=https://127.0.0.1:{grpc}",
            $"--Kestrel:Certificates:Default:Path={secret.CertificateFile}", $"--Kestrel:Certificates:Default:KeyPath={secret.KeyFile}"]);
        using var channel = GrpcChannels.Create($"https://localhost:{grpc}", secret.CaFile);
        var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(10));
        Assert.Equal(HealthCheckResponse.Types.ServingStatus.Serving, reply.Status);
    }

    [Fact]
    public async Task An_endpoint_configured_with_its_own_certificate_keeps_it_beside_a_default_certificate()
    {
        using var secret = new SecretFiles("default.example");
        string own = PfxFor("endpoint.example");
        try
        {
            int grpc = FreePort();
            await using var app = await StartAsync([$"--Kestrel:Endpoints:Grpc:Url=https://127.0.0.1:{grpc}",
                $"--Kestrel:Endpoints:Grpc:Certificate:Path={own}", "--Kestrel:Endpoints:Grpc:Certificate:Password=pw",
                $"--Kestrel:Certificates:Default:Path={secret.CertificateFile}",
                $"--Kestrel:Certificates:Default:KeyPath={secret.KeyFile}"]);
            using var tcp = new System.Net.Sockets.TcpClient();
            await tcp.ConnectAsync(IPAddress.Loopback, grpc);
            string? served = null;
            // Self-signed test certificates: the client only records which one it is shown.
            await using var tls = new System.Net.Security.SslStream(tcp.GetStream(), false,
                (_, certificate, _, _) => (served = certificate?.Subject) is not null);
            await tls.AuthenticateAsClientAsync(new System.Net.Security.SslClientAuthenticationOptions
            {
                TargetHost = "endpoint.example",
                ApplicationProtocols = [System.Net.Security.SslApplicationProtocol.Http2],
            });
            Assert.Equal("CN=endpoint.example", served);
        }
        finally { File.Delete(own); }
    }

    /// <summary>A .pfx (password "pw") for <paramref name="name"/> from a CA of its own: no two calls share a key.</summary>
    private static string PfxFor(string name)
    {
        using var ca = new TestCa();
        using var certificate = ca.Issue(name);
        string pfx = Path.Combine(Path.GetTempPath(), $"tstitch-probe-{Guid.NewGuid():N}.pfx");
        File.WriteAllBytes(pfx, certificate.Export(System.Security.Cryptography.X509Certificates.X509ContentType.Pfx, "pw"));
        return pfx;
    }

    [Theory]
    [InlineData("http://localhost:5100", "http://localhost:9100")]
    [InlineData("http://0.0.0.0:5100", "http://*:9100")]
    [InlineData("https://+:5100", "http://*:9100")]
    [InlineData("http://127.0.0.1:5100", "http://127.0.0.1:9100")]
    public void MetricsUrl_BindsTheSameHostAsTheGrpcUrl(string urls, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("urls", (string?)urls)]).Build();
        Assert.Equal(expected, ServiceUrls.MetricsUrl(config, 9100));
    }

    [Fact]
    public async Task Probe_FailsWhenNothingListens()
    {
        var output = new StringWriter();
        Assert.Equal(1, await HealthProbe.RunAsync([$"--urls=http://127.0.0.1:{FreePort()}"], output, TimeSpan.FromSeconds(2)));
        Assert.Contains("Unavailable", output.ToString());
    }

    [Theory]
    [InlineData("http://0.0.0.0:5101", "http://127.0.0.1:5101")]
    [InlineData("http://*:5102", "http://127.0.0.1:5102")]
    [InlineData("http://+:5100", "http://127.0.0.1:5100")]
    [InlineData("http://[::]:5100", "http://127.0.0.1:5100")]
    [InlineData("http://localhost:5100;http://0.0.0.0:9464", "http://localhost:5100")]
    public void LoopbackAddress_MapsWildcardsToLoopback(string urls, string expected)
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("urls", (string?)urls)]).Build();
        Assert.Equal(expected, ServiceUrls.LoopbackAddress(config));
    }

    [Fact]
    public void ConfiguredUrls_FallBackToHttpPorts_ThenKestrelsDefault()
    {
        var ports = new ConfigurationBuilder().AddInMemoryCollection([KeyValuePair.Create("http_ports", (string?)"8080")]).Build();
        Assert.Equal(["http://*:8080"], ServiceUrls.Configured(ports));
        Assert.Equal(["http://localhost:5000"], ServiceUrls.Configured(new ConfigurationBuilder().Build()));
        var metricsFirst = new ConfigurationBuilder()
            .AddInMemoryCollection([KeyValuePair.Create("urls", (string?)"http://0.0.0.0:9464;http://0.0.0.0:5101")])
            .Build();
        Assert.Equal("http://127.0.0.1:5101", ServiceUrls.LoopbackAddress(metricsFirst, skipPort: 9464));
    }

    /// <summary>
    /// The graceful-stop bound (a stage hand-back, a job release) is the configured ShutdownTimeout, 30 s by default.
    /// </summary>
    [Theory]
    [InlineData(null, 30)]
    [InlineData("00:00:50", 50)]
    public void ShutdownTimeout_IsConfigurable_With30SecondsByDefault(string? configured, int expectedSeconds)
    {
        var builder = WebApplication.CreateBuilder(configured is null ? [] : [$"--{ServiceDefaults.ShutdownTimeoutKey}={configured}"]);
        builder.AddServiceDefaults("deploy-test");
        using var app = builder.Build();
        var options = app.Services
            .GetRequiredService<Microsoft.Extensions.Options.IOptions<Microsoft.Extensions.Hosting.HostOptions>>().Value;
        Assert.Equal(TimeSpan.FromSeconds(expectedSeconds), options.ShutdownTimeout);
    }
}
