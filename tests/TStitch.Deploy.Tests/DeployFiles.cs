using System.Text.Json;
using YamlDotNet.Core;
using YamlDotNet.Core.Events;
using YamlDotNet.Serialization;

namespace TStitch.Deploy.Tests;

/// <summary>The repository's deployment files, parsed into plain trees (mappings, lists, strings).</summary>
public static class DeployFiles
{
    public static readonly string Root = FindRoot();

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TStitch.sln")) && File.Exists(Path.Combine(dir.FullName, "docker-compose.yml")))
                return dir.FullName;
        throw new InvalidOperationException(
            "Repository root (TStitch.sln next to docker-compose.yml) not found above " + AppContext.BaseDirectory);
    }

    public static string PathOf(string relative) => Path.Combine(Root, relative);

    /// <summary>Every YAML document of a file (merge keys `&lt;&lt;:` resolved) as dictionaries, lists and strings.</summary>
    public static List<Dictionary<string, object?>> LoadYaml(string relative) => ParseYaml(File.ReadAllText(PathOf(relative)));

    /// <summary>
    /// The objects `kubectl kustomize` renders from a kustomization directory (base, overlay), as validate-deploy
    /// renders them; kubectl is required, as it is there.
    /// </summary>
    public static List<Dictionary<string, object?>> Kustomize(string relative)
    {
        var start = new System.Diagnostics.ProcessStartInfo("kubectl", ["kustomize", PathOf(relative)])
        {
            RedirectStandardOutput = true, RedirectStandardError = true,
        };
        using var kubectl = System.Diagnostics.Process.Start(start)!;
        var rendered = kubectl.StandardOutput.ReadToEndAsync();
        string errors = kubectl.StandardError.ReadToEnd();
        kubectl.WaitForExit();
        if (kubectl.ExitCode != 0) throw new InvalidOperationException($"kubectl kustomize {relative} failed: {errors}");
        return ParseYaml(rendered.Result);
    }

    /// <summary>Every YAML document of <paramref name="text"/>, as <see cref="LoadYaml"/> reads a file.</summary>
    public static List<Dictionary<string, object?>> ParseYaml(string text)
    {
        var deserializer = new DeserializerBuilder().Build();
        using var reader = new StringReader(text);
        var parser = new MergingParser(new Parser(reader));
        parser.Consume<StreamStart>();
        var docs = new List<Dictionary<string, object?>>();
        while (parser.Accept<DocumentStart>(out _))
            if (Normalize(deserializer.Deserialize<object?>(parser)) is Dictionary<string, object?> doc)
                docs.Add(doc);
        return docs;
    }

    private static object? Normalize(object? node) => node switch
    {
        IDictionary<object, object?> map => map.ToDictionary(kv => kv.Key.ToString()!, kv => Normalize(kv.Value)),
        IList<object?> list => list.Select(Normalize).ToList(),
        _ => node?.ToString(),
    };

    public static Dictionary<string, object?> Compose => LoadYaml("docker-compose.yml").Single();

    /// <summary>The objects of k8s/base (the files its kustomization lists, read directly).</summary>
    public static List<Dictionary<string, object?>> K8sBase()
    {
        var kustomization = LoadYaml("k8s/base/kustomization.yaml").Single();
        return List(kustomization, "resources").Cast<string>().SelectMany(f => LoadYaml($"k8s/base/{f}")).ToList();
    }

    public static string K8sNamespace => Str(LoadYaml("k8s/base/kustomization.yaml").Single(), "namespace");

    /// <summary>Every YAML file under k8s/ (base, overlays, patches, the example Secret).</summary>
    public static IEnumerable<(string File, Dictionary<string, object?> Doc)> AllK8sDocuments() =>
        Directory.EnumerateFiles(PathOf("k8s"), "*.yaml", SearchOption.AllDirectories).Order()
            .Select(f => Path.GetRelativePath(Root, f))
            .SelectMany(f => LoadYaml(f).Select(d => (f, d)));

    /// <summary>services/&lt;Service&gt;/appsettings.json.</summary>
    public static JsonElement AppSettings(string service) =>
        JsonDocument.Parse(File.ReadAllText(PathOf($"services/{service}/appsettings.json"))).RootElement;

    // Tree helpers: a missing key is an empty mapping / list / null so assertions say what is missing.
    public static Dictionary<string, object?> Map(object? node, params string[] path)
    {
        foreach (var key in path)
            node = node is Dictionary<string, object?> m && m.TryGetValue(key, out var v) ? v : null;
        return node as Dictionary<string, object?> ?? new();
    }

    public static List<object?> List(object? node, params string[] path)
    {
        var parent = path.Length > 1 ? Map(node, path[..^1]) : node as Dictionary<string, object?> ?? new();
        return parent.TryGetValue(path[^1], out var v) && v is List<object?> l ? l : new();
    }

    public static string Str(object? node, params string[] path)
    {
        var parent = path.Length > 1 ? Map(node, path[..^1]) : node as Dictionary<string, object?> ?? new();
        return parent.TryGetValue(path[^1], out var v) ? v?.ToString() ?? "" : "";
    }
}
