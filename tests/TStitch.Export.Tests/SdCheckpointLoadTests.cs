namespace TStitch.Export.Tests;

/// <summary>
/// export_unet.py and export_text_encoder.py load checkpoints strictly, as export_dit.py does: the state dict saved
/// under diffusers' / transformers' key names goes back in and reproduces the same model; a checkpoint with a
/// renamed key or for another config is refused before anything is exported, naming the key. What real SD files
/// carry besides the weights (the old CLIP position_ids buffer) is tolerated. Python runs as a child process.
/// </summary>
[Collection(ExportCollection.Name)]
public sealed class SdCheckpointLoadTests : IDisposable
{
    private readonly ExportFixture fx;
    private readonly string _dir;

    public SdCheckpointLoadTests(ExportFixture fixture)
    {
        // With TSTITCH_EXPORT_FIXTURES set the fixture never ran Python; these tests do, so fail clearly if they cannot.
        PythonTool.RequireTorch();
        fx = fixture;
        _dir = Directory.CreateTempSubdirectory("tstitch-sd-checkpoint-").FullName;
    }

    private PythonTool.Result ExportUnet(string config, string checkpoint, string name, params string[] extra) =>
        PythonTool.Python([PythonTool.ExportTool("export_unet.py"), "--config", config, "--checkpoint", checkpoint,
            "--out", _dir, "--name", name, .. extra]);

    private PythonTool.Result ExportTextEncoder(string checkpoint, string name, params string[] extra) =>
        PythonTool.Python([PythonTool.ExportTool("export_text_encoder.py"), "--config", "tiny", "--checkpoint", checkpoint,
            "--out", _dir, "--name", name, .. extra]);

    /// <summary>A tokenizer folder as in an SD checkout (tokenizer/vocab.json + merges.txt), holding clip-tiny's test vocabulary.</summary>
    private string TokenizerDir(bool withMerges = true)
    {
        var dir = Directory.CreateDirectory(Path.Combine(_dir, withMerges ? "tokenizer" : "tokenizer-no-merges")).FullName;
        File.Copy(Path.Combine(fx.Directory, "clip-tiny.vocab.json"), Path.Combine(dir, "vocab.json"), overwrite: true);
        if (withMerges)
            File.Copy(Path.Combine(fx.Directory, "clip-tiny.merges.txt"), Path.Combine(dir, "merges.txt"), overwrite: true);
        return dir;
    }

    private void AssertNothingExported(string name)
    {
        Assert.False(File.Exists(Path.Combine(_dir, name + ".onnx")), "nothing is exported from a refused checkpoint");
        Assert.False(File.Exists(Path.Combine(_dir, name + ".json")));
    }

    [Fact]
    public void The_saved_unet_state_dict_loads_strictly_and_reproduces_the_exported_model()
    {
        var r = ExportUnet("tiny", fx.UnetStateDict, "unet-roundtrip", "--fixtures", "--decoder", "vae-tiny.json");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("checkpoint unet-tiny.pt", r.Stdout);

        // PyTorch after the load gives the same output as before it (same weights, same fixture inputs) ...
        var again = FixtureSet.Load(Path.Combine(_dir, "unet-roundtrip.fixtures"));
        Assert.Equal(fx.Unet.Floats("out_sample"), again.Floats("out_sample"));
        // ... and so does the ONNX exported from the loaded checkpoint, run from C#.
        using var model = new RawUnet(Path.Combine(_dir, "unet-roundtrip.json"));
        Parity.AssertClose(fx.Unet.Floats("out_sample"),
            model.Run(fx.Unet.Floats("sample"), fx.Unet.Longs("timestep"), fx.Unet.Floats("encoder_hidden_states")),
            what: "round-trip export");
    }

    [Fact]
    public void A_unet_checkpoint_with_a_renamed_key_is_refused_naming_it()
    {
        const string key = "down_blocks.0.attentions.0.transformer_blocks.0.attn2.to_k.weight";
        var r = ExportUnet("tiny", StateDictTamper.Tampered(_dir, fx.UnetStateDict, "rename", key), "renamed-unet");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"checkpoint does not match config 'UNet tiny': missing key '{key}'", r.Stderr);
        Assert.Contains($"unexpected key '{key}_renamed'", r.Stderr);
        Assert.DoesNotContain("Traceback", r.Stderr);
        AssertNothingExported("renamed-unet");
    }

    [Fact]
    public void A_unet_checkpoint_for_another_config_is_refused_naming_the_first_key_that_does_not_fit()
    {
        // The large tiny UNet's weights into the small config: its second up resnet takes a 64 + 64 channel skip
        // concatenation in the large layout, 64 + 32 in the small one.
        var r = ExportUnet("tiny-small", fx.UnetStateDict, "wrong-config");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains(
            "checkpoint does not match config 'UNet tiny-small': " +
            "wrong shape for key 'up_blocks.0.resnets.1.norm1.weight': checkpoint [128], config [96]", r.Stderr);
        AssertNothingExported("wrong-config");
    }

    [Fact]
    public void An_original_ldm_checkpoint_is_refused_with_a_pointer_to_the_diffusers_layout()
    {
        var r = ExportUnet("tiny", StateDictTamper.Tampered(_dir, fx.UnetStateDict, "prefix", "model.diffusion_model."), "ldm");
        Assert.Equal(2, r.ExitCode);
        Assert.Contains("missing key 'conv_in.weight'", r.Stderr);
        Assert.Contains("original CompVis/LDM checkpoint", r.Stderr);
        AssertNothingExported("ldm");
    }

    [Fact]
    public void The_saved_text_encoder_state_dict_loads_strictly_with_its_tokenizer_and_reproduces_the_model()
    {
        var tokenizer = TokenizerDir();
        var r = ExportTextEncoder(fx.ClipStateDict, "clip-roundtrip", "--tokenizer-dir", tokenizer, "--fixtures");
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.Contains("checkpoint clip-tiny.pt", r.Stdout);

        // The tokenizer files travel with the model, byte for byte, renamed after it.
        Assert.Equal(File.ReadAllBytes(Path.Combine(tokenizer, "vocab.json")),
            File.ReadAllBytes(Path.Combine(_dir, "clip-roundtrip.vocab.json")));
        Assert.Equal(File.ReadAllBytes(Path.Combine(tokenizer, "merges.txt")),
            File.ReadAllBytes(Path.Combine(_dir, "clip-roundtrip.merges.txt")));
        var m = ManifestJson.Read(Path.Combine(_dir, "clip-roundtrip.json"));
        Assert.Equal("clip-roundtrip.vocab.json", (string)m["vocab"]!);
        Assert.Equal("clip-roundtrip.merges.txt", (string)m["merges"]!);

        var again = FixtureSet.Load(Path.Combine(_dir, "clip-roundtrip.fixtures"));
        Assert.Equal(fx.Clip.Longs("input_ids"), again.Longs("input_ids"));  // same tokenizer, same rows
        Assert.Equal(fx.Clip.Floats("last_hidden_state"), again.Floats("last_hidden_state"));
        using var encoder = new RawTextEncoder(Path.Combine(_dir, "clip-roundtrip.json"));
        Parity.AssertClose(fx.Clip.Floats("last_hidden_state"), encoder.Run(fx.Clip.Longs("input_ids")), what: "round-trip export");
    }

    [Fact]
    public void The_position_ids_buffer_of_older_transformers_checkpoints_is_ignored()
    {
        var checkpoint = StateDictTamper.Tampered(_dir, fx.ClipStateDict, "position-ids", "text_model.embeddings.position_ids");
        var r = ExportTextEncoder(checkpoint, "clip-position-ids", "--tokenizer-dir", TokenizerDir());
        Assert.True(r.ExitCode == 0, r.ToString());
        Assert.True(File.Exists(Path.Combine(_dir, "clip-position-ids.onnx")));
    }

    [Fact]
    public void A_text_encoder_checkpoint_with_a_renamed_key_is_refused_naming_it()
    {
        const string key = "text_model.encoder.layers.1.mlp.fc1.weight";
        var r = ExportTextEncoder(StateDictTamper.Tampered(_dir, fx.ClipStateDict, "rename", key),
            "renamed-clip", "--tokenizer-dir", TokenizerDir());
        Assert.Equal(2, r.ExitCode);
        Assert.Contains($"checkpoint does not match config 'CLIP text tiny': missing key '{key}'", r.Stderr);
        Assert.Contains($"unexpected key '{key}_renamed'", r.Stderr);
        Assert.DoesNotContain("Traceback", r.Stderr);
        AssertNothingExported("renamed-clip");
    }

    [Fact]
    public void A_text_encoder_checkpoint_needs_its_tokenizer_files()
    {
        var none = ExportTextEncoder(fx.ClipStateDict, "no-tokenizer");
        Assert.Equal(2, none.ExitCode);
        Assert.Contains("--tokenizer-dir is required with --checkpoint", none.Stderr);
        AssertNothingExported("no-tokenizer");

        var noMerges = ExportTextEncoder(fx.ClipStateDict, "no-merges", "--tokenizer-dir", TokenizerDir(withMerges: false));
        Assert.Equal(2, noMerges.ExitCode);
        Assert.Contains("no merges.txt", noMerges.Stderr);
        AssertNothingExported("no-merges");
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
