using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Quality;
using TStitch.Sampling;

namespace TStitch.Zoo.Tests;

/// <summary>Builds the default zoo once per test run (a few seconds) into a temp folder, with its metric.</summary>
public sealed class ZooFixture : IDisposable
{
    public ModelZoo Zoo { get; }
    public Dictionary<string, IDenoiser> Models { get; }
    public FidProxy Metric { get; }
    public string Directory { get; }

    public ZooFixture()
    {
        Directory = Path.Combine(Path.GetTempPath(), $"tstitch-zoo-tests-{Environment.ProcessId}");
        Zoo = ModelZoo.Build(Directory, new ZooOptions());
        Models = StitchingSweep.LoadZoo(Zoo);
        Metric = StitchingSweep.MetricFor(Zoo);
    }

    public OnnxDenoiser Model(string name) => (OnnxDenoiser)Models[name];

    public void Dispose()
    {
        foreach (var m in Models.Values) ((IDisposable)m).Dispose();
        Metric.Dispose();
        try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}

[CollectionDefinition(Name)]
public sealed class ZooCollection : ICollectionFixture<ZooFixture>
{
    public const string Name = "zoo";
}
