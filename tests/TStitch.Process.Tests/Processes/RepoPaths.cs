using System.Reflection;

namespace TStitch.Process.Tests;

/// <summary>Where the repository and the built service executables are.</summary>
public static class RepoPaths
{
    /// <summary>The repository root: the first folder above the test assembly holding TStitch.sln.</summary>
    public static string Root { get; } = FindRoot();

    /// <summary>The build configuration this test assembly (and so, through its project references, the services) was built in.</summary>
    public static string Configuration { get; } =
        typeof(RepoPaths).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>()
            .FirstOrDefault(a => a.Key == "Configuration")?.Value ?? "Debug";

    /// <summary>services/&lt;name&gt;/bin/&lt;Configuration&gt;/net10.0/linux-x64/&lt;name&gt;.dll, which must exist.</summary>
    public static string ServiceDll(string project)
    {
        var path = Path.Combine(Root, "services", project, "bin", Configuration, "net10.0", "linux-x64", project + ".dll");
        if (!File.Exists(path))
            throw new FileNotFoundException(
                $"The {project} service is not built at {path}; the test project builds it through its ProjectReference " +
                $"(dotnet build tests/TStitch.Process.Tests -c {Configuration}).", path);
        return path;
    }

    private static string FindRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TStitch.sln"))) return dir.FullName;
        throw new InvalidOperationException($"No TStitch.sln above {AppContext.BaseDirectory}.");
    }
}
