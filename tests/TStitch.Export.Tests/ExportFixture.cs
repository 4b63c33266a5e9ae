namespace TStitch.Export.Tests;

/// <summary>
/// The tiny DiT and VAE exports with their PyTorch fixtures: from TSTITCH_EXPORT_FIXTURES (CI runs
/// tools/export/make_fixtures.sh first) or, when unset, made here into a temp folder (a few seconds).
/// </summary>
public sealed class ExportFixture : IDisposable
{
    public const string Variable = "TSTITCH_EXPORT_FIXTURES";

    private readonly bool _owned;

    public string Directory { get; }
    public string DitManifest => Path.Combine(Directory, "dit-tiny.json");
    /// <summary>The tiny pair's small model (depth 1, seed 2); <see cref="DitManifest"/> is the large one. Both name <see cref="VaeManifest"/> as decoder.</summary>
    public string DitSmallManifest => Path.Combine(Directory, "dit-tiny-small.json");
    public string DitStateDict => Path.Combine(Directory, "dit-tiny.pt");
    public string VaeManifest => Path.Combine(Directory, "vae-tiny.json");
    public string VaeStateDict => Path.Combine(Directory, "vae-tiny.pt");
    public FixtureSet Dit { get; }
    public FixtureSet Vae { get; }

    public ExportFixture()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
        {
            Directory = Path.GetFullPath(given);
            if (!File.Exists(DitManifest) || !File.Exists(DitSmallManifest) || !File.Exists(VaeManifest))
                throw new InvalidOperationException($"{Variable}={given} has no dit-tiny.json / dit-tiny-small.json / vae-tiny.json; fill it with tools/export/make_fixtures.sh {given}.");
        }
        else
        {
            PythonTool.RequireTorch();
            Directory = System.IO.Directory.CreateTempSubdirectory("tstitch-export-").FullName;
            _owned = true;
            var r = PythonTool.Run("bash", PythonTool.ExportTool("make_fixtures.sh"), Directory);
            if (r.ExitCode != 0)
                throw new InvalidOperationException($"tools/export/make_fixtures.sh failed: {r}");
        }
        Dit = FixtureSet.Load(Path.Combine(Directory, "dit-tiny.fixtures"));
        Vae = FixtureSet.Load(Path.Combine(Directory, "vae-tiny.fixtures"));
    }

    public void Dispose()
    {
        if (_owned)
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
