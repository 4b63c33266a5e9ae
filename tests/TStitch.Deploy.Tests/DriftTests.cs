using System.Collections;
using System.ComponentModel.DataAnnotations;
using System.Reflection;
using Microsoft.Extensions.Configuration;
using TStitch.Denoising;
using TStitch.Hosting;
using TStitch.Hosting.Auth;
using TStitch.Orchestration;
using static TStitch.Deploy.Tests.DeployFiles;

namespace TStitch.Deploy.Tests;

/// <summary>
/// docker-compose.yml, k8s/base (+ overlays) and services/*/appsettings.json describe the same
/// services: a port, a pool address or a configuration key changed in one place only fails here.
/// </summary>
public sealed class DriftTests
{
    /// <summary>Deployed service name (compose service, k8s Deployment/Service/ConfigMap) -> services/ folder.</summary>
    public static readonly TheoryData<string, string> Services = new()
    {
        { "orchestrator", "Orchestrator" },
        { "small-denoiser", "SmallDenoiser" },
        { "large-denoiser", "LargeDenoiser" },
    };

    private static readonly Dictionary<string, object?> Compose = DeployFiles.Compose;
    private static readonly List<Dictionary<string, object?>> K8s = K8sBase();
    private static readonly string Ns = K8sNamespace;

    // ---- ports --------------------------------------------------------------------------------

    [Theory]
    [MemberData(nameof(Services))]
    public void GrpcPort_IsTheSameInAppsettingsComposeAndK8s(string name, string project)
    {
        int port = UrlPort(AppSettings(project).GetProperty("Urls").GetString()!);
        var errors = new List<string>();
        void Expect(int actual, string where)
        {
            if (actual != port) errors.Add($"{where}: {actual}, appsettings Urls of {project}: {port}");
        }

        // compose
        var env = ComposeEnv(name);
        Expect(env.TryGetValue("Urls", out var urls) ? UrlPort(urls) : -1, $"compose {name} Urls");
        var exposed = List(ComposeService(name), "expose").Select(p => int.Parse(p!.ToString()!)).ToList();
        var published = List(ComposeService(name), "ports").Select(p => int.Parse(p!.ToString()!.Split(':')[^1])).ToList();
        if (!exposed.Concat(published).Contains(port)) errors.Add($"compose {name}: port {port} neither exposed nor published");
        if (!string.Join(' ', List(ComposeService(name), "healthcheck", "test")).Contains(HealthProbe.Flag))
            errors.Add($"compose {name}: healthcheck does not run {HealthProbe.Flag}");

        // k8s
        var k8sEnv = K8sEnv(name);
        Expect(k8sEnv.TryGetValue("Urls", out var k8sUrls) ? UrlPort(k8sUrls) : -1, $"k8s {name} Urls");
        var container = Container(name);
        Expect(ContainerPort(container, "grpc"), $"k8s Deployment {name} containerPort grpc");
        foreach (var probe in new[] { "startupProbe", "readinessProbe", "livenessProbe" })
            Expect(IntOf(Str(container, probe, "grpc", "port")), $"k8s Deployment {name} {probe}.grpc.port");
        var servicePorts = List(Find("Service", name), "spec", "ports");
        if (servicePorts.Count != 1) errors.Add($"k8s Service {name}: expected one port, got {servicePorts.Count}");
        foreach (var sp in servicePorts)
        {
            Expect(IntOf(Str(sp, "port")), $"k8s Service {name} port");
            var target = Str(sp, "targetPort");
            Expect(int.TryParse(target, out int t) ? t : ContainerPort(container, target), $"k8s Service {name} targetPort {target}");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void MetricsPort_IsTheSameInComposeAndK8s_AndLocalPortsDoNotCollide()
    {
        int port = IntOf(Map(Find("ConfigMap", "telemetry"), "data").GetValueOrDefault("Telemetry__MetricsPort")?.ToString());
        var errors = new List<string>();
        foreach (var (name, project) in Services.Select(r => ((string)r[0], (string)r[1])))
        {
            if (IntOf(ComposeEnv(name).GetValueOrDefault("Telemetry__MetricsPort")) != port)
                errors.Add($"compose {name} Telemetry__MetricsPort != {port} (k8s ConfigMap telemetry)");
            if (!List(Find("Deployment", name), "spec", "template", "spec", "containers").Any() ||
                !Workload(name).Containers.Any(c => ContainerPort(c, "metrics") == port))
                errors.Add($"k8s Deployment {name}: no containerPort 'metrics' = {port}");
            if (IntOf(Str(Find("Deployment", name), "spec", "template", "metadata", "annotations", "prometheus.io/port")) != port)
                errors.Add($"k8s Deployment {name}: annotation prometheus.io/port != {port}");
            if (!K8sEnv(name).ContainsKey("Telemetry__MetricsPort"))
                errors.Add($"k8s Deployment {name}: Telemetry__MetricsPort not in its envFrom ConfigMaps");
        }
        if (!List(ComposeService("orchestrator"), "ports").Any(p => p!.ToString()!.EndsWith($":{port}")))
            errors.Add($"compose orchestrator: metrics port {port} not published");

        // Locally every service runs on one machine: gRPC and metrics ports must all differ.
        var local = Services.SelectMany(r =>
        {
            var settings = AppSettings((string)r[1]);
            return new[]
            {
                UrlPort(settings.GetProperty("Urls").GetString()!),
                settings.GetProperty("Telemetry").GetProperty("MetricsPort").GetInt32()
            };
        }).ToList();
        if (local.Distinct().Count() != local.Count) errors.Add($"appsettings ports collide: {string.Join(", ", local)}");
        if (local.Contains(0)) errors.Add("an appsettings Telemetry:MetricsPort is 0 (metrics off)");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    // ---- addresses ----------------------------------------------------------------------------

    [Fact]
    public void PoolAddresses_NameExistingServicesAndTheirPorts()
    {
        var errors = new List<string>();
        var appPools = AppSettings("Orchestrator").GetProperty("Orchestrator").GetProperty("Pools").EnumerateObject()
            .ToDictionary(p => p.Name, p => p.Value.GetString()!);
        var composePools = Prefixed(ComposeEnv("orchestrator"), "Orchestrator__Pools__");
        var k8sPools = Prefixed(K8sEnv("orchestrator"), "Orchestrator__Pools__");
        if (!appPools.Keys.Order().SequenceEqual(composePools.Keys.Order()) || !appPools.Keys.Order().SequenceEqual(k8sPools.Keys.Order()))
            errors.Add($"pool names differ: appsettings [{string.Join(',', appPools.Keys)}], " +
                $"compose [{string.Join(',', composePools.Keys)}], k8s [{string.Join(',', k8sPools.Keys)}]");

        // appsettings: http://localhost:PORT of the pool's own service.
        foreach (var (pool, address) in appPools)
        {
            var project = Services.Select(r => (string)r[1]).FirstOrDefault(p => p.StartsWith(pool, StringComparison.OrdinalIgnoreCase));
            if (project is null) { errors.Add($"appsettings pool {pool}: no services/ project for it"); continue; }
            int expected = UrlPort(AppSettings(project).GetProperty("Urls").GetString()!);
            if (UrlPort(address) != expected) errors.Add($"appsettings pool {pool} = {address}: {project} listens on {expected}");
        }
        // compose: dns:///service:port, a compose service listening on that port.
        foreach (var (pool, address) in composePools)
        {
            var (host, port) = DnsTarget(address);
            if (!Map(Compose, "services").ContainsKey(host))
            {
                errors.Add($"compose pool {pool} = {address}: no compose service {host}");
                continue;
            }
            if (UrlPort(ComposeEnv(host).GetValueOrDefault("Urls") ?? "") != port)
                errors.Add($"compose pool {pool} = {address}: {host} listens on {ComposeEnv(host).GetValueOrDefault("Urls")}");
        }
        // k8s: dns:///service.namespace.svc.cluster.local:port, a HEADLESS Service with that port.
        foreach (var (pool, address) in k8sPools)
        {
            var (host, port) = DnsTarget(address);
            string suffix = $".{Ns}.svc.cluster.local";
            if (!host.EndsWith(suffix)) { errors.Add($"k8s pool {pool} = {address}: not a name in namespace {Ns} ({suffix})"); continue; }
            string service = host[..^suffix.Length];
            var svc = Find("Service", service, required: false);
            if (svc is null) { errors.Add($"k8s pool {pool} = {address}: no Service {service}"); continue; }
            if (Str(svc, "spec", "clusterIP") != "None")
                errors.Add($"k8s pool {pool}: Service {service} is not headless (clusterIP: None), so DNS would not list the replicas");
            if (!List(svc, "spec", "ports").Any(p => IntOf(Str(p, "port")) == port))
                errors.Add($"k8s pool {pool} = {address}: Service {service} has no port {port}");
            if (ContainerPort(Container(service), "grpc") != port)
                errors.Add($"k8s pool {pool} = {address}: Deployment {service} listens on {ContainerPort(Container(service), "grpc")}");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void RedisAndJaegerAddresses_NameExistingServicesAndTheirPorts()
    {
        var errors = new List<string>();
        foreach (var name in Services.Select(r => (string)r[0]))
        {
            CheckCompose(ComposeEnv(name).GetValueOrDefault("OTEL_EXPORTER_OTLP_ENDPOINT"), "jaeger", 4317,
                $"compose {name} OTEL_EXPORTER_OTLP_ENDPOINT");
            CheckK8s(K8sEnv(name).GetValueOrDefault("OTEL_EXPORTER_OTLP_ENDPOINT"), "jaeger", $"k8s {name} OTEL_EXPORTER_OTLP_ENDPOINT");
        }
        CheckCompose("tcp://" + ComposeEnv("orchestrator").GetValueOrDefault("Orchestrator__Redis"), "redis", 6379,
            "compose Orchestrator__Redis");
        CheckK8s("tcp://" + K8sEnv("orchestrator").GetValueOrDefault("Orchestrator__Redis"), "redis", "k8s Orchestrator__Redis");
        if (!string.Join(' ', List(ComposeService("redis"), "command")).Contains("--appendonly yes"))
            errors.Add("compose redis: AOF (--appendonly yes) is off");
        if (!string.Join(' ', Workload("redis").Containers.SelectMany(c => List(c, "args").Concat(List(c, "command"))))
            .Contains("--appendonly yes"))
            errors.Add("k8s redis: AOF (--appendonly yes) is off");
        Assert.True(errors.Count == 0, string.Join("\n", errors));

        void CheckCompose(string? url, string service, int port, string where)
        {
            if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            {
                errors.Add($"{where}: '{url}' is not an address");
                return;
            }
            if (uri.Host != service || uri.Port != port) errors.Add($"{where}: '{url}', expected {service}:{port}");
            if (!Map(Compose, "services").ContainsKey(uri.Host)) errors.Add($"{where}: no compose service {uri.Host}");
        }
        void CheckK8s(string? url, string service, string where)
        {
            if (url is null || !Uri.TryCreate(url, UriKind.Absolute, out var uri))
            {
                errors.Add($"{where}: '{url}' is not an address");
                return;
            }
            if (uri.Host != $"{service}.{Ns}.svc.cluster.local")
                errors.Add($"{where}: '{url}', expected host {service}.{Ns}.svc.cluster.local");
            var svc = Find("Service", service, required: false);
            if (svc is null || !List(svc, "spec", "ports").Any(p => IntOf(Str(p, "port")) == uri.Port))
                errors.Add($"{where}: Service {service} has no port {uri.Port}");
            else if (!Workload(service).Containers.Any(c => List(c, "ports").Any(p => IntOf(Str(p, "containerPort")) == uri.Port)))
                errors.Add($"{where}: workload {service} has no containerPort {uri.Port}");
        }
    }

    [Fact]
    public void K8sServices_TargetTheSamePortsTheirPodsListenOn()
    {
        var errors = new List<string>();
        foreach (var svc in K8s.Where(d => Str(d, "kind") == "Service"))
        {
            string name = Str(svc, "metadata", "name");
            var selector = Map(svc, "spec", "selector");
            var pods = Workloads().Where(w => Matches(w.Labels, selector)).ToList();
            if (pods.Count == 0) { errors.Add($"Service {name}: its selector matches no workload"); continue; }
            foreach (var port in List(svc, "spec", "ports"))
            {
                string target = Str(port, "targetPort") is { Length: > 0 } t ? t : Str(port, "port");
                foreach (var w in pods)
                {
                    int container = int.TryParse(target, out int n) ? n
                        : w.Containers.Select(c => ContainerPort(c, target)).FirstOrDefault(p => p > 0, -1);
                    if (container != IntOf(Str(port, "port")))
                        errors.Add($"Service {name} port {Str(port, "port")} -> targetPort {target} = {container} on {w.Name}: " +
                            "ports should be equal");
                }
            }
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    // ---- configuration keys -------------------------------------------------------------------

    private static readonly Dictionary<string, Type> Sections = new(StringComparer.OrdinalIgnoreCase)
    {
        [OrchestratorOptions.Section] = typeof(OrchestratorOptions),
        [DenoiserOptions.Section] = typeof(DenoiserOptions),
        [TelemetryOptions.Section] = typeof(TelemetryOptions),
        [AuthOptions.Section] = typeof(AuthOptions),
    };

    [Fact]
    public void EnvironmentKeys_NameRealOptionsProperties()
    {
        var keys = new List<(string Key, string Where)>();
        foreach (var (name, _) in Map(Compose, "services"))
            keys.AddRange(ComposeEnv(name).Keys.Select(k => (k, $"docker-compose.yml {name}")));
        foreach (var (file, doc) in AllK8sDocuments())
        {
            foreach (var part in new[] { "data", "stringData" })
                if (Str(doc, "kind") is "ConfigMap" or "Secret")
                    keys.AddRange(Map(doc, part).Keys.Select(k => (k, $"{file} {Str(doc, "kind")} {Str(doc, "metadata", "name")}")));
            foreach (var c in List(doc, "spec", "template", "spec", "containers"))
                keys.AddRange(List(c, "env").Select(e => (Str(e, "name"), $"{file} {Str(doc, "kind")} {Str(doc, "metadata", "name")}")));
        }
        var errors = new List<string>();
        int checkedKeys = 0;
        foreach (var (key, where) in keys)
        {
            var segments = key.Split("__");
            if (segments.Length < 2 || !Sections.TryGetValue(segments[0], out var type)) continue;
            checkedKeys++;
            if (CheckKey(type, segments[1..]) is { } error) errors.Add($"{where}: {key}: {error}");
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
        Assert.True(checkedKeys > 20, $"only {checkedKeys} Section__Key entries found: are the files parsed?");
    }

    /// <summary>A key path is a settable property chain; dictionaries take one free key segment.</summary>
    private static string? CheckKey(Type type, string[] segments)
    {
        var prop = type.GetProperty(segments[0], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase);
        if (prop is null) return $"{type.Name} has no property '{segments[0]}'";
        var t = prop.PropertyType;
        var dictionary = t.GetInterfaces().Append(t)
            .FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        if (dictionary is not null)
        {
            if (segments.Length == 1) return $"{type.Name}.{prop.Name} is a dictionary: name an entry ({prop.Name}__<name>)";
            var value = dictionary.GetGenericArguments()[1];
            return segments.Length == 2 ? (IsScalar(value) ? null : $"{prop.Name}:{segments[1]} is a section")
                 : IsScalar(value) ? $"{type.Name}.{prop.Name}[{segments[1]}] is a value, not a section" : CheckKey(value, segments[2..]);
        }
        var list = t.GetInterfaces().Append(t).FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IList<>));
        if (list is not null && t != typeof(string))
        {
            // Lists bind from index segments: Auth__ApiKeys__0, Auth__ApiKeys__1, ...
            if (segments.Length == 1 || !int.TryParse(segments[1], out _))
                return $"{type.Name}.{prop.Name} is a list: name an index ({prop.Name}__0)";
            var element = list.GetGenericArguments()[0];
            return segments.Length == 2 ? (IsScalar(element) ? null : $"{prop.Name}:{segments[1]} is a section")
                 : IsScalar(element) ? $"{type.Name}.{prop.Name}[{segments[1]}] is a value, not a section"
                 : CheckKey(element, segments[2..]);
        }
        if (!prop.CanWrite) return $"{type.Name}.{prop.Name} is read-only";
        if (segments.Length == 1) return IsScalar(t) ? null : $"{type.Name}.{prop.Name} is a section, not a value";
        return IsScalar(t) ? $"{type.Name}.{prop.Name} is a value, not a section" : CheckKey(t, segments[1..]);
    }

    private static bool IsScalar(Type t) =>
        t.IsPrimitive || t.IsEnum || t == typeof(string) || t == typeof(decimal) || t == typeof(TimeSpan) || t == typeof(Uri) ||
        (Nullable.GetUnderlyingType(t) is { } u && IsScalar(u));

    [Theory]
    [MemberData(nameof(Services))]
    public void EnvironmentValues_BindAndValidate(string name, string project)
    {
        _ = project;
        foreach (var (where, env) in new[] { ($"compose {name}", ComposeEnv(name)), ($"k8s {name}", K8sEnv(name)) })
        {
            var config = new ConfigurationBuilder()
                .AddInMemoryCollection(env.Select(kv => KeyValuePair.Create(kv.Key.Replace("__", ":"), (string?)kv.Value)))
                .Build();
            foreach (var (section, type) in Sections)
            {
                if (!config.GetSection(section).Exists()) continue;
                object? options = null;
                var bind = Record.Exception(() =>
                    options = config.GetSection(section).Get(type, o => o.ErrorOnUnknownConfiguration = true));
                Assert.True(bind is null, $"{where}: section {section} does not bind to {type.Name}: {bind?.Message}");
                var results = new List<ValidationResult>();
                Assert.True(Validator.TryValidateObject(options!, new ValidationContext(options!), results, validateAllProperties: true),
                    $"{where}: {type.Name} invalid: {string.Join("; ", results.Select(r => r.ErrorMessage))}");
            }
        }
    }

    // ---- network policies ---------------------------------------------------------------------

    [Fact]
    public void NetworkPolicies_AllowExactlyTheServicePorts()
    {
        var errors = new List<string>();
        var policies = K8s.Where(d => Str(d, "kind") == "NetworkPolicy").ToList();
        Assert.Contains(policies, p => Map(p, "spec", "podSelector").Count == 0 && List(p, "spec", "ingress").Count == 0); // default deny
        var allowed = new List<(K8sWorkload Target, int Port, Dictionary<string, object?> Rule, string Policy)>();
        foreach (var policy in policies)
        {
            string pname = Str(policy, "metadata", "name");
            var targets = Workloads().Where(w => Matches(w.Labels, Map(policy, "spec", "podSelector", "matchLabels"))).ToList();
            foreach (var rule in List(policy, "spec", "ingress").Cast<Dictionary<string, object?>>())
                foreach (var port in List(rule, "ports"))
                {
                    int n = IntOf(Str(port, "port"));
                    var listening = targets
                        .Where(w => w.Containers.Any(c => List(c, "ports").Any(p => IntOf(Str(p, "containerPort")) == n))).ToList();
                    if (listening.Count == 0)
                        errors.Add($"NetworkPolicy {pname}: port {n} is not a containerPort of any selected pod " +
                            $"({string.Join(',', targets.Select(t => t.Name))})");
                    allowed.AddRange(listening.Select(w => (w, n, rule, pname)));
                }
        }
        // Every port a pod listens on is reachable by someone (the namespace denies by default).
        foreach (var w in Workloads())
            foreach (var p in w.Containers.SelectMany(c => List(c, "ports")))
                if (!allowed.Any(a => a.Target.Name == w.Name && a.Port == IntOf(Str(p, "containerPort"))))
                    errors.Add($"{w.Name}: containerPort {Str(p, "containerPort")} ({Str(p, "name")}) is allowed by no NetworkPolicy");
        // Only the orchestrator reaches the denoisers' gRPC ports and Redis.
        foreach (var name in new[] { "small-denoiser", "large-denoiser", "redis" })
        {
            int port = IntOf(Str(List(Find("Service", name), "spec", "ports").First(), "port"));
            var rules = allowed.Where(a => a.Target.Name == name && a.Port == port).ToList();
            if (rules.Count == 0) errors.Add($"{name}: its port {port} (Service) is allowed by no NetworkPolicy");
            foreach (var (_, _, rule, pname) in rules)
            {
                var from = List(rule, "from");
                if (from.Count == 0 || from.Any(f => Map(f).ContainsKey("namespaceSelector") ||
                    Str(f, "podSelector", "matchLabels", "app.kubernetes.io/name") != "orchestrator"))
                    errors.Add($"NetworkPolicy {pname}: {name}:{port} is open to more than the orchestrator");
            }
        }
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    [Fact]
    public void ComposeDenoisers_AreScalable()
    {
        foreach (var name in new[] { "small-denoiser", "large-denoiser" })
        {
            var svc = ComposeService(name);
            Assert.False(svc.ContainsKey("container_name"), $"compose {name}: container_name prevents --scale");
            Assert.Empty(List(svc, "ports"));
        }
    }

    /// <summary>
    /// A stopping service gets SIGTERM after its preStop hook and then has the host's shutdown timeout
    /// (ServiceDefaults.ShutdownTimeout) to hand its stage runs or jobs back: the kill that follows the
    /// grace period must come later than both, or a graceful stop turns into kill -9.
    /// </summary>
    [Theory]
    [MemberData(nameof(Services))]
    public void GracePeriods_OutlastPreStopAndTheHostsShutdownTimeout(string name, string project)
    {
        _ = project;
        var errors = new List<string>();
        TimeSpan Shutdown(IReadOnlyDictionary<string, string?> env) =>
            env.TryGetValue(ServiceDefaults.ShutdownTimeoutKey, out var v) && v is not null ? TimeSpan.Parse(v)
                : ServiceDefaults.DefaultShutdownTimeout;

        var deployment = Find("Deployment", name)!;
        int grace = IntOf(Str(deployment, "spec", "template", "spec", "terminationGracePeriodSeconds"));
        var preStop = List(Container(name), "lifecycle", "preStop", "exec", "command").Select(c => c?.ToString()).ToList();
        int sleep = preStop is ["sleep", var n] ? IntOf(n) : 0;
        var k8sNeeds = TimeSpan.FromSeconds(sleep) + Shutdown(K8sEnv(name));
        if (TimeSpan.FromSeconds(grace) <= k8sNeeds)
            errors.Add($"k8s Deployment {name}: terminationGracePeriodSeconds {grace} must exceed " +
                $"preStop {sleep} s + ShutdownTimeout {Shutdown(K8sEnv(name)).TotalSeconds} s");

        var composeGrace = Str(ComposeService(name), "stop_grace_period");
        var composeSeconds = composeGrace.EndsWith('s') ? IntOf(composeGrace[..^1])
            : composeGrace.EndsWith('m') ? 60 * IntOf(composeGrace[..^1]) : -1;
        if (TimeSpan.FromSeconds(composeSeconds) <= Shutdown(ComposeEnv(name)))
            errors.Add($"compose {name}: stop_grace_period {composeGrace} must exceed " +
                $"ShutdownTimeout {Shutdown(ComposeEnv(name)).TotalSeconds} s");
        Assert.True(errors.Count == 0, string.Join("\n", errors));
    }

    // ---- helpers ------------------------------------------------------------------------------

    public sealed record K8sWorkload(
        string Kind, string Name, Dictionary<string, object?> Labels, List<Dictionary<string, object?>> Containers);

    private static IEnumerable<K8sWorkload> Workloads() =>
        K8s.Where(d => Str(d, "kind") is "Deployment" or "StatefulSet")
           .Select(d => new K8sWorkload(Str(d, "kind"), Str(d, "metadata", "name"), Map(d, "spec", "template", "metadata", "labels"),
               List(d, "spec", "template", "spec", "containers").Cast<Dictionary<string, object?>>().ToList()));

    private static K8sWorkload Workload(string name) =>
        Workloads().FirstOrDefault(w => w.Name == name) ??
        throw new Xunit.Sdk.XunitException($"k8s/base has no Deployment or StatefulSet {name}");

    private static Dictionary<string, object?> Container(string deployment) =>
        Workload(deployment).Containers.Single();

    private static bool Matches(Dictionary<string, object?> labels, Dictionary<string, object?> selector) =>
        selector.All(kv => labels.TryGetValue(kv.Key, out var v) && Equals(v?.ToString(), kv.Value?.ToString())) ||
        // kustomize adds the common labels at render time; the files hold them in kustomization.yaml.
        selector.All(kv => labels.TryGetValue(kv.Key, out var v) ? Equals(v?.ToString(), kv.Value?.ToString())
            : CommonLabels.GetValueOrDefault(kv.Key) == kv.Value?.ToString());

    private static readonly Dictionary<string, string> CommonLabels =
        List(LoadYaml("k8s/base/kustomization.yaml").Single(), "labels").SelectMany(l => Map(l, "pairs"))
            .ToDictionary(kv => kv.Key, kv => kv.Value?.ToString() ?? "");

    private static Dictionary<string, object?>? Find(string kind, string name, bool required = true)
    {
        var doc = K8s.FirstOrDefault(d => Str(d, "kind") == kind && Str(d, "metadata", "name") == name);
        if (doc is null && required) throw new Xunit.Sdk.XunitException($"k8s/base has no {kind} {name}");
        return doc;
    }

    private static int ContainerPort(Dictionary<string, object?> container, string portName) =>
        List(container, "ports").Where(p => Str(p, "name") == portName).Select(p => IntOf(Str(p, "containerPort"))).FirstOrDefault(-1);

    private static Dictionary<string, object?> ComposeService(string name) =>
        Map(Compose, "services").TryGetValue(name, out var s) && s is Dictionary<string, object?> m ? m
            : throw new Xunit.Sdk.XunitException($"docker-compose.yml has no service {name}");

    /// <summary>A compose service's environment (mapping or KEY=VALUE list).</summary>
    private static Dictionary<string, string?> ComposeEnv(string name)
    {
        var svc = ComposeService(name);
        if (svc.GetValueOrDefault("environment") is List<object?> list)
            return list.Select(e => e!.ToString()!.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : null);
        return Map(svc, "environment").ToDictionary(kv => kv.Key, kv => kv.Value?.ToString());
    }

    /// <summary>
    /// A k8s workload's container environment: its envFrom ConfigMaps, then its env values (Secrets are not in the repo).
    /// </summary>
    private static Dictionary<string, string?> K8sEnv(string name)
    {
        var env = new Dictionary<string, string?>();
        foreach (var container in Workload(name).Containers)
        {
            foreach (var from in List(container, "envFrom"))
                if (Str(from, "configMapRef", "name") is { Length: > 0 } cm)
                    foreach (var (k, v) in Map(Find("ConfigMap", cm), "data")) env[k] = v?.ToString();
            foreach (var e in List(container, "env"))
                if (Map(e).ContainsKey("value")) env[Str(e, "name")] = Str(e, "value");
        }
        return env;
    }

    private static Dictionary<string, string> Prefixed(Dictionary<string, string?> env, string prefix) =>
        env.Where(kv => kv.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(kv => kv.Key[prefix.Length..], kv => kv.Value ?? "");

    private static int IntOf(string? s) => int.TryParse(s, out int n) ? n : -1;

    private static int UrlPort(string? url)
    {
        if (string.IsNullOrEmpty(url)) return -1;
        var first = url.Split(';')[0].Replace("://*", "://0.0.0.0").Replace("://+", "://0.0.0.0");
        return Uri.TryCreate(first, UriKind.Absolute, out var uri) ? uri.Port : -1;
    }

    /// <summary>dns:///host:port -> (host, port).</summary>
    private static (string Host, int Port) DnsTarget(string address)
    {
        Assert.StartsWith("dns:///", address);
        var hostPort = address["dns:///".Length..];
        int colon = hostPort.LastIndexOf(':');
        return colon < 0 ? (hostPort, -1) : (hostPort[..colon], IntOf(hostPort[(colon + 1)..]));
    }
}
