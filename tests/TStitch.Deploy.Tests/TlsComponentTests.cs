using Microsoft.Extensions.Configuration;
using TStitch.Hosting;
using TStitch.Orchestration;
using static TStitch.Deploy.Tests.DeployFiles;
using static TStitch.Deploy.Tests.TestHosts;

namespace TStitch.Deploy.Tests;

/// <summary>
/// k8s/components/tls, rendered through k8s/overlays/cpu-tls: every TStitch endpoint on https with the certificate
/// of the mounted Secret, probes that run the service's own --health-probe (Kubernetes' grpc probes cannot speak
/// TLS), the orchestrator's pool calls over TLS to the Secret's CA; and those very settings, with PEM files where
/// the Secret would be mounted, start a service whose probe commands find it serving.
/// </summary>
public sealed class TlsComponentTests
{
    private const string Overlay = "k8s/overlays/cpu-tls";
    private const string SecretName = "tstitch-tls";
    private static readonly Lazy<List<Dictionary<string, object?>>> Rendered = new(() => Kustomize(Overlay));

    public static readonly TheoryData<string, int> Endpoints = new()
    {
        { "orchestrator", 5100 }, { "small-denoiser", 5101 }, { "large-denoiser", 5102 },
    };

    [Theory]
    [MemberData(nameof(Endpoints))]
    public void Every_endpoint_serves_tls_from_the_mounted_secret_and_is_probed_by_exec(string name, int port)
    {
        var settings = Map(Object("ConfigMap", name), "data");
        Assert.Equal($"https://0.0.0.0:{port}", Str(settings, "Urls"));
        string mount = SecretMount(name);
        Assert.StartsWith(mount + "/", Str(settings, "Kestrel__Certificates__Default__Path"));
        Assert.StartsWith(mount + "/", Str(settings, "Kestrel__Certificates__Default__KeyPath"));

        var container = Assert.Single(List(Object("Deployment", name), "spec", "template", "spec", "containers"));
        foreach (var (probe, service) in
            new[] { ("startupProbe", ""), ("readinessProbe", ""), ("livenessProbe", ServiceDefaults.LivenessService) })
        {
            Assert.Empty(Map(container, probe, "grpc")); // a grpc probe would speak cleartext to a TLS port
            var command = List(container, probe, "exec", "command").Select(c => c?.ToString()).ToList();
            Assert.Equal(["/app/service", HealthProbe.Flag], command.Take(2));
            Assert.Equal(service.Length > 0 ? [$"--service={service}"] : [], command.Skip(2));
        }
        var servicePort = Assert.Single(List(Object("Service", name), "spec", "ports"));
        Assert.Equal(port.ToString(), Str(servicePort, "port"));
        Assert.NotEqual("kubernetes.io/h2c", Str(servicePort, "appProtocol"));
    }

    [Fact]
    public void The_orchestrator_calls_its_dns_pools_over_tls_trusting_only_the_secrets_ca()
    {
        var settings = Map(Object("ConfigMap", "orchestrator"), "data");
        var options = new ConfigurationBuilder()
            .AddInMemoryCollection(settings.Select(kv => KeyValuePair.Create(kv.Key.Replace("__", ":"), kv.Value?.ToString())))
            .Build().GetSection(OrchestratorOptions.Section).Get<OrchestratorOptions>(o => o.ErrorOnUnknownConfiguration = true)!;
        Assert.True(options.PoolTls);
        Assert.Equal(SecretMount("orchestrator") + "/ca.crt", options.PoolCaCertificate);
        Assert.NotEmpty(options.Pools);
        Assert.All(options.Pools.Values, address => Assert.StartsWith("dns:///", address));
    }

    [Fact]
    public async Task The_rendered_settings_start_a_service_whose_probe_commands_find_it_serving()
    {
        using var secret = new SecretFiles("large-denoiser.tstitch.svc.cluster.local");
        var settings = Map(Object("ConfigMap", "large-denoiser"), "data");
        string mount = SecretMount("large-denoiser");
        int port = FreePort();
        // The ConfigMap's values as the container sees them, but on a free loopback port and with the Secret's files
        // where the test wrote them.
        string[] args =
        [
            $"--urls={Str(settings, "Urls").Replace("0.0.0.0:5102", $"127.0.0.1:{port}")}",
            .. new[] { "Path", "KeyPath" }.Select(k => $"--Kestrel:Certificates:Default:{k}=" +
                Str(settings, $"Kestrel__Certificates__Default__{k}").Replace(mount, secret.Directory)),
        ];
        await using var app = await StartAsync(args);

        var container = Assert.Single(List(Object("Deployment", "large-denoiser"), "spec", "template", "spec", "containers"));
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
        {
            var probeArgs = List(container, probe, "exec", "command").Skip(2).Select(c => c!.ToString()!).ToArray();
            var output = new StringWriter();
            Assert.Equal(0, await HealthProbe.RunAsync([.. probeArgs, .. args], output, TestHosts.ProbeTimeout));
            Assert.Contains($"https://127.0.0.1:{port}", output.ToString());
            Assert.Contains("Serving", output.ToString());
        }
    }

    private static Dictionary<string, object?> Object(string kind, string name) =>
        Rendered.Value.SingleOrDefault(d => Str(d, "kind") == kind && Str(d, "metadata", "name") == name)
        ?? throw new Xunit.Sdk.XunitException($"{Overlay} renders no {kind} {name}");

    /// <summary>Where the Deployment's container mounts the Secret <see cref="SecretName"/>.</summary>
    private static string SecretMount(string deployment)
    {
        var pod = Map(Object("Deployment", deployment), "spec", "template", "spec");
        string volume = Str(Assert.Single(List(pod, "volumes"), v => Str(v, "secret", "secretName") == SecretName), "name");
        var container = Assert.Single(List(pod, "containers"));
        return Str(Assert.Single(List(container, "volumeMounts"), m => Str(m, "name") == volume), "mountPath");
    }
}
