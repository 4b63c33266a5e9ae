using TStitch.Models;

namespace TStitch.Export.Tests;

/// <summary>The VAE decoder exported by tools/export/export_vae.py, run through OnnxDecoder, matches PyTorch.</summary>
[Collection(ExportCollection.Name)]
public class DecoderParityTests(ExportFixture fx)
{
    [Fact]
    public void The_manifest_records_shapes_and_where_the_latent_scaling_happens()
    {
        var m = DecoderManifest.Load(fx.VaeManifest);
        Assert.Equal("vae-decoder", m.Kind);
        Assert.Equal([4, 8, 8], m.LatentShape);
        Assert.Equal([3, 16, 16], m.ImageShape);
        Assert.Equal(0.18215, m.ScaleFactor, 1e-9);
        Assert.True(m.ScaleInGraph);
        Assert.Equal(new DecoderIo("latents", "image"), m.Io);
    }

    [Fact]
    public void Decode_matches_pytorch_and_stays_in_range()
    {
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        var z = fx.Vae.Floats("latents");
        Assert.Equal([2, 4, 8, 8], fx.Vae.Shape("latents"));
        var image = decoder.Decode(z, batch: 2);
        Assert.Equal(2 * 3 * 16 * 16, image.Length);
        Parity.AssertClose(fx.Vae.Floats("image"), image, what: "decoded image");
        Assert.All(image, v => Assert.InRange(v, -1f, 1f));
        // Not a degenerate constant image: the random decoder's output varies.
        Assert.True(image.Max() - image.Min() > 0.1f);
    }

    [Fact]
    public void Decode_takes_any_batch_and_rows_are_independent()
    {
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        var z = fx.Vae.Floats("latents");
        var expected = fx.Vae.Floats("image");
        var second = decoder.Decode(z[256..], batch: 1);
        Parity.AssertClose(expected.AsSpan(768), second, what: "row 1 alone");
    }

    [Fact]
    public void A_cancelled_decode_stops_inside_onnx_runtime()
    {
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        using var cancelled = new CancellationTokenSource();
        cancelled.Cancel(); // the run's terminate flag is set before it starts: ONNX Runtime stops at its first node
        Assert.Throws<OperationCanceledException>(() => decoder.Decode(fx.Vae.Floats("latents"), batch: 2, cancelled.Token));
        Assert.Equal(2 * 3 * 16 * 16, decoder.Decode(fx.Vae.Floats("latents"), batch: 2).Length); // and the session still runs
    }

    [Fact]
    public void A_denoiser_manifest_is_not_a_decoder()
    {
        var e = Assert.Throws<InvalidDataException>(() => DecoderManifest.Load(fx.DitManifest));
        Assert.Contains("kind is 'denoiser'", e.Message);
    }

    [Fact]
    public void Latents_of_the_wrong_size_are_refused()
    {
        using var decoder = new OnnxDecoder(fx.VaeManifest);
        var e = Assert.Throws<ArgumentException>(() => decoder.Decode(new float[255], batch: 1));
        Assert.Contains("expects 1 x 4 x 8 x 8 = 256", e.Message);
    }
}
