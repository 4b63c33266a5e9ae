using TStitch.Models.Zoo;

namespace TStitch.Denoising.Tests;

/// <summary>The built-in zoo, built once for the test run (a few seconds) into a temp folder.</summary>
public sealed class ZooModels : IDisposable
{
    // One folder per fixture instance: test classes run in parallel, and each disposes its own.
    public string Directory { get; } =
        Path.Combine(Path.GetTempPath(), $"tstitch-denoising-tests-{Environment.ProcessId}-{Guid.NewGuid():N}");

    public ZooModels() => ModelZoo.Build(Directory, new ZooOptions());

    public string Manifest(string model) => Path.Combine(Directory, model + ".json");

    public void Dispose()
    {
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
