using TStitch.Models;

namespace TStitch.Export.Tests;

/// <summary>
/// The exporters load checkpoints strictly: the state dict saved under the published key names goes
/// back in and reproduces the same model; a checkpoint with a renamed key or a wrong shape is
/// refused before anything is exported, naming the key. Python runs as a child process.
/// </summary>
[Collection(ExportCollection.Name)]
public sealed class CheckpointLoadTests : IDisposable
{
    private readonly ExportFixture fx;
    private readonly string _dir;

    public CheckpointLoadTests(ExportFixture fixture)
    {
        // With TSTITCH_EXPORT_FIXTURES set the fixture never ran Python; these tests do, so fail clearly if they cannot.
        PythonTool.RequireTorch();
        fx = fixture;
        _dir = Directory.CreateTempSubdirectory("tstitch-checkpoint-").FullName;
    }

    private string Tampered(string source, string mode, string key) => StateDictTamper.Tampered(_dir, source, mode, key);

    private PythonTool.Result ExportDit(string checkpoint, string name, params string[] extra) =>
        PythonTool.Python([PythonTool.ExportTool("export_dit.py"), "--config", "tiny", "--checkpoint", checkpoint,
            "--out", _dir, "--name", name, .. extra]);

    private PythonTool.Result ExportVae(string checkpoint, string name) =>
        PythonTool.Python(PythonTool.ExportTool("export_vae.py"), "--config", "tiny", "--checkpoint", checkpoint,
            "--out", _dir, "--name", name);

    [Fact]
    public void The_saved_state_dict_loads_strictly_and_reproduces_the_exported_model()
    {
        var r = ExportDit(fx.DitStateDict, "roundtrip", "--fixtures");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("checkpoint dit-tiny.pt", r.Stdout);

        // PyTorch after the load gives the same output as before it (same weights, same fixture inputs) ...
        var again = FixtureSet.Load(Path.Combine(_dir, "roundtrip.fixtures"));
        Assert.Equal(fx.Dit.Floats("out"), again.Floats("out"));
        // ... and so does the ONNX exported from the loaded checkpoint, run from C#.
        using var model = new OnnxDenoiser(Path.Combine(_dir, "roundtrip.json"));
        var input = new Sampling.DenoiseInput(fx.Dit.Floats("x"), fx.Dit.Longs("t").Select(v => (int)v).ToArray(),
            fx.Dit.Longs("y").Select(v => (int)v).ToArray(), 1f);
        Parity.AssertClose(Parity.FirstHalfChannels(fx.Dit.Floats("out"), 3), model.Run(input), what: "round-trip export");
    }

    [Theory]
    [InlineData("ema")]
    [InlineData("model")]
    public void A_training_checkpoint_is_read_from_its_ema_or_model_entry(string entry)
    {
        var r = ExportDit(Tampered(fx.DitStateDict, "wrap", entry), $"wrapped-{entry}");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(Path.Combine(_dir, $"wrapped-{entry}.onnx")));
    }

    [Fact]
    public void A_checkpoint_with_a_renamed_key_is_refused_naming_it()
    {
        const string key = "blocks.1.attn.qkv.weight";
        var r = ExportDit(Tampered(fx.DitStateDict, "rename", key), "renamed");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"missing key '{key}'", r.Stderr);
        Assert.Contains($"unexpected key '{key}_renamed'", r.Stderr);
        Assert.DoesNotContain("Traceback", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "renamed.onnx")), "nothing is exported from a refused checkpoint");
        Assert.False(File.Exists(Path.Combine(_dir, "renamed.json")));
    }

    [Fact]
    public void A_checkpoint_with_a_wrong_shape_is_refused_naming_the_key()
    {
        // 10 rows instead of 11: what a model trained without class dropout (no null class) would have.
        const string key = "y_embedder.embedding_table.weight";
        var r = ExportDit(Tampered(fx.DitStateDict, "shrink", key), "shrunk");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"wrong shape for key '{key}': checkpoint [10, 64], config [11, 64]", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "shrunk.onnx")));
    }

    [Fact]
    public void A_checkpoint_for_another_config_is_refused()
    {
        var r = PythonTool.Python(PythonTool.ExportTool("export_dit.py"), "--config", "S/2", "--checkpoint", fx.DitStateDict,
            "--out", _dir, "--name", "s2");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("checkpoint does not match config 'DiT-S/2 256': wrong shape for key 'pos_embed'", r.Stderr);
    }

    [Fact]
    public void A_full_vae_file_loads_into_the_decoder_with_its_encoder_keys_ignored()
    {
        var r = ExportVae(Tampered(fx.VaeStateDict, "extra", "encoder.conv_in.weight"), "fullvae");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(Path.Combine(_dir, "fullvae.onnx")));
    }

    [Fact]
    public void A_vae_checkpoint_with_a_renamed_decoder_key_is_refused_naming_it()
    {
        const string key = "decoder.up_blocks.1.resnets.0.conv1.weight";
        var r = ExportVae(Tampered(fx.VaeStateDict, "rename", key), "badvae");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"missing key '{key}'", r.Stderr);
        Assert.False(File.Exists(Path.Combine(_dir, "badvae.onnx")));
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
