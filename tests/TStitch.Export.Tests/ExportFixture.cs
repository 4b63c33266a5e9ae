namespace TStitch.Export.Tests;

/// <summary>
/// The tiny test exports with their PyTorch fixtures (DiT pair, VAE decoder, CLIP text encoder, UNet pair, the
/// stitched SD reference run): from TSTITCH_EXPORT_FIXTURES (CI runs tools/export/make_fixtures.sh first) or,
/// when unset, made here into a temp folder (several seconds).
/// </summary>
public sealed class ExportFixture : IDisposable
{
    public const string Variable = "TSTITCH_EXPORT_FIXTURES";

    private readonly bool _owned;

    public string Directory { get; }
    public string DitManifest => Path.Combine(Directory, "dit-tiny.json");
    /// <summary>The tiny pair's small model (depth 1, seed 2); <see cref="DitManifest"/> is the large one.
    /// Both name <see cref="VaeManifest"/> as decoder.</summary>
    public string DitSmallManifest => Path.Combine(Directory, "dit-tiny-small.json");
    public string DitStateDict => Path.Combine(Directory, "dit-tiny.pt");
    public string VaeManifest => Path.Combine(Directory, "vae-tiny.json");
    public string VaeStateDict => Path.Combine(Directory, "vae-tiny.pt");
    /// <summary>Text-conditioned UNet pair: <see cref="UnetManifest"/> (SD v1's layout) is the large model,
    /// <see cref="UnetSmallManifest"/> (cut like BK-SDM-Tiny) the small one; both name <see cref="VaeManifest"/> as decoder.</summary>
    public string UnetManifest => Path.Combine(Directory, "unet-tiny.json");
    public string UnetSmallManifest => Path.Combine(Directory, "unet-tiny-small.json");
    public string UnetStateDict => Path.Combine(Directory, "unet-tiny.pt");
    public string UnetSmallStateDict => Path.Combine(Directory, "unet-tiny-small.pt");
    /// <summary>Tiny CLIP text encoder (width 32) with its CLIP-format test vocabulary (clip-tiny.vocab.json / .merges.txt).</summary>
    public string ClipManifest => Path.Combine(Directory, "clip-tiny.json");
    public string ClipStateDict => Path.Combine(Directory, "clip-tiny.pt");
    public FixtureSet Dit { get; }
    public FixtureSet Vae { get; }
    public FixtureSet Unet { get; }
    public FixtureSet UnetSmall { get; }
    public FixtureSet Clip { get; }
    /// <summary>The stitched DDIM + guidance run of the UNet pair in PyTorch (tools/export/reference_sd.py).</summary>
    public FixtureSet SdReference { get; }

    private static readonly string[] Required =
        ["dit-tiny.json", "dit-tiny-small.json", "vae-tiny.json", "clip-tiny.json",
            "unet-tiny.json", "unet-tiny-small.json", "sd-reference.fixtures"];

    public ExportFixture()
    {
        if (Environment.GetEnvironmentVariable(Variable) is { Length: > 0 } given)
        {
            Directory = Path.GetFullPath(given);
            var missing = Required.Where(f => !Path.Exists(Path.Combine(Directory, f))).ToList();
            if (missing.Count > 0)
                throw new InvalidOperationException(
                    $"{Variable}={given} has no {string.Join(" / ", missing)}; fill it with tools/export/make_fixtures.sh {given}.");
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
        Unet = FixtureSet.Load(Path.Combine(Directory, "unet-tiny.fixtures"));
        UnetSmall = FixtureSet.Load(Path.Combine(Directory, "unet-tiny-small.fixtures"));
        Clip = FixtureSet.Load(Path.Combine(Directory, "clip-tiny.fixtures"));
        SdReference = FixtureSet.Load(Path.Combine(Directory, "sd-reference.fixtures"));
    }

    public void Dispose()
    {
        if (_owned)
            try { System.IO.Directory.Delete(Directory, recursive: true); } catch (IOException) { }
    }
}
