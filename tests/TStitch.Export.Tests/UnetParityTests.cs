namespace TStitch.Export.Tests;

/// <summary>
/// The text-conditioned UNets exported by tools/export/export_unet.py (the tiny pair: unet-tiny, SD v1's layout,
/// and unet-tiny-small, cut like BK-SDM-Tiny) compute in ONNX Runtime, from C#, what they computed in PyTorch,
/// and their manifests say what the issue 13 contract says.
/// </summary>
[Collection(ExportCollection.Name)]
public class UnetParityTests(ExportFixture fx)
{
    private (string Manifest, FixtureSet Fixtures) Model(string name) => name switch
    {
        "unet-tiny" => (fx.UnetManifest, fx.Unet),
        "unet-tiny-small" => (fx.UnetSmallManifest, fx.UnetSmall),
        _ => throw new ArgumentOutOfRangeException(nameof(name)),
    };

    [Theory]
    [InlineData("unet-tiny")]
    [InlineData("unet-tiny-small")]
    public void The_manifest_is_the_contracts_text_to_image_denoiser(string name)
    {
        var m = ManifestJson.Read(Model(name).Manifest);
        Assert.Equal(name, (string)m["name"]!);
        Assert.Equal("denoiser", (string)m["kind"]!);
        Assert.Equal($"{name}.onnx", (string)m["onnx"]!);
        Assert.Equal("""{"latents":"sample","timesteps":"timestep","context":"encoder_hidden_states","output":"out_sample"}""",
            ManifestJson.Compact(m["io"]));
        Assert.Equal("[4,8,8]", ManifestJson.Compact(m["latentShape"]));
        Assert.Equal("epsilon", (string)m["prediction"]!);
        Assert.False((bool)m["learnedSigma"]!);
        Assert.Equal("""{"kind":"scaled-linear","trainingSteps":1000,"spacing":"leading"}""", ManifestJson.Compact(m["schedule"]));
        Assert.Equal("""{"kind":"text-embedding","tokens":77,"width":32}""", ManifestJson.Compact(m["conditioning"]));
        Assert.Equal("int64", (string)m["timestepType"]!);
        Assert.Equal("vae-tiny.json", (string)m["decoder"]!);
        Assert.True((long)m["parameterCount"]! > 0);
        Assert.False(string.IsNullOrWhiteSpace((string?)m["description"]));
        // Text models have no class labels: no numClasses / nullClassId to mislead a class-label reader.
        Assert.False(m.ContainsKey("numClasses"));
        Assert.False(m.ContainsKey("nullClassId"));
        Assert.False(m.ContainsKey("externalData"));  // a few MB: everything in the .onnx
    }

    [Fact]
    public void The_pair_shares_what_stitching_needs_and_the_small_model_is_smaller()
    {
        var large = ManifestJson.Read(fx.UnetManifest);
        var small = ManifestJson.Read(fx.UnetSmallManifest);
        foreach (var field in new[] { "latentShape", "prediction", "schedule", "conditioning", "timestepType", "decoder" })
            Assert.Equal(ManifestJson.Compact(large[field]), ManifestJson.Compact(small[field]));
        Assert.True((long)small["parameterCount"]! < (long)large["parameterCount"]!);
        // The decoder they name is there and decodes their latent shape.
        var vae = ManifestJson.Read(Path.Combine(fx.Directory, (string)large["decoder"]!));
        Assert.Equal(ManifestJson.Compact(large["latentShape"]), ManifestJson.Compact(vae["latentShape"]));
    }

    [Theory]
    [InlineData("unet-tiny")]
    [InlineData("unet-tiny-small")]
    public void The_output_matches_pytorch(string name)
    {
        var (manifest, f) = Model(name);
        using var model = new RawUnet(manifest);
        Assert.Equal([3, 4, 8, 8], f.Shape("sample"));
        Assert.Equal([3, 77, 32], f.Shape("encoder_hidden_states"));
        var t = f.Longs("timestep");
        Assert.Equal(3, t.Distinct().Count());  // three different timesteps in one batch
        var actual = model.Run(f.Floats("sample"), t, f.Floats("encoder_hidden_states"));
        Parity.AssertClose(f.Floats("out_sample"), actual, what: $"{name} out_sample");
    }

    [Fact]
    public void The_batch_axis_is_dynamic_rows_run_alone_give_the_same_result()
    {
        // Exported with a batch of 2, compared above with 3; here one row at a time.
        using var model = new RawUnet(fx.UnetManifest);
        var f = fx.Unet;
        int latent = model.LatentSize, context = model.Tokens * model.Width;
        var expected = f.Floats("out_sample");
        for (int b = 0; b < 3; b++)
        {
            var row = model.Run(f.Floats("sample")[(b * latent)..((b + 1) * latent)], [f.Longs("timestep")[b]],
                f.Floats("encoder_hidden_states")[(b * context)..((b + 1) * context)]);
            Parity.AssertClose(expected.AsSpan(b * latent, latent), row, what: $"row {b}");
        }
    }

    [Fact]
    public void The_text_embedding_and_the_timestep_both_change_the_output()
    {
        // Parity alone would not catch an input both sides ignore; a changed context or timestep must show.
        using var model = new RawUnet(fx.UnetManifest);
        var f = fx.Unet;
        int latent = model.LatentSize, context = model.Tokens * model.Width;
        var x = f.Floats("sample")[..latent];
        var c0 = f.Floats("encoder_hidden_states")[..context];
        var c1 = f.Floats("encoder_hidden_states")[context..(2 * context)];
        var baseline = model.Run(x, [500], c0);
        Assert.True(MaxAbsDiff(baseline, model.Run(x, [500], c1)) > 1e-3f, "the context does not reach the output");
        Assert.True(MaxAbsDiff(baseline, model.Run(x, [100], c0)) > 1e-3f, "the timestep does not reach the output");
    }

    private static float MaxAbsDiff(float[] a, float[] b) => a.Zip(b, (p, q) => MathF.Abs(p - q)).Max();
}
