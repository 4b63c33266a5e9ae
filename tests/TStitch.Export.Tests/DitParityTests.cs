using Microsoft.ML.OnnxRuntime;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Export.Tests;

/// <summary>
/// A DiT exported by tools/export/export_dit.py computes in ONNX Runtime, from C#, what it computed
/// in PyTorch: the full 8-channel learned-sigma output, and the 4 channels OnnxDenoiser serves.
/// </summary>
[Collection(ExportCollection.Name)]
public class DitParityTests(ExportFixture fx)
{
    private static int[] Ints(long[] values) => values.Select(v => checked((int)v)).ToArray();

    [Fact]
    public void The_manifest_describes_a_learned_sigma_epsilon_dit_with_a_null_class()
    {
        var m = ModelManifest.Load(fx.DitManifest);
        Assert.Equal([4, 8, 8], m.LatentShape);
        Assert.Equal(PredictionKind.Epsilon, m.Prediction);
        Assert.True(m.LearnedSigma);
        Assert.Equal(ScheduleKind.Linear, m.Schedule.Kind);
        Assert.Equal(1000, m.Schedule.TrainingSteps);
        Assert.Equal(10, m.NumClasses);
        Assert.Equal(10, m.NullClassId);
        Assert.Equal("int64", m.TimestepType);
        Assert.Equal(new ManifestIo("x", "t", "y", "out"), m.Io);
        // The fixtures really do contain a null-class row, so the parity below covers it.
        Assert.Contains((long)m.NullClassId, fx.Dit.Longs("y"));
    }

    [Fact]
    public void The_full_eight_channel_output_matches_pytorch()
    {
        var m = ModelManifest.Load(fx.DitManifest);
        var x = fx.Dit.Floats("x");
        var t = fx.Dit.Longs("t");
        var y = fx.Dit.Longs("y");
        var expected = fx.Dit.Floats("out");
        Assert.Equal([3, 8, 8, 8], fx.Dit.Shape("out"));

        // The raw session, not OnnxDenoiser: that one crops the sigma channels away.
        using var session = new InferenceSession(Path.Combine(fx.Directory, m.Onnx));
        using var xs = OrtValue.CreateTensorValueFromMemory(x, [3, 4, 8, 8]);
        using var ts = OrtValue.CreateTensorValueFromMemory(t, [3]);
        using var ys = OrtValue.CreateTensorValueFromMemory(y, [3]);
        using var outputs = session.Run(new RunOptions(), [m.Io.Latents, m.Io.Timesteps, m.Io.ClassLabels], [xs, ts, ys], [m.Io.Output]);
        var actual = outputs[0].GetTensorDataAsSpan<float>();
        Assert.Equal([3L, 8, 8, 8], outputs[0].GetTensorTypeAndShape().Shape);
        Parity.AssertClose(expected, actual, what: "DiT out (8 channels)");
    }

    [Fact]
    public void OnnxDenoiser_serves_the_first_four_channels_of_the_pytorch_output()
    {
        using var model = new OnnxDenoiser(fx.DitManifest);
        var input = new DenoiseInput(fx.Dit.Floats("x"), Ints(fx.Dit.Longs("t")), Ints(fx.Dit.Longs("y")), 1f);
        input.Validate(model.Info);  // the null class is an accepted label
        var actual = model.Run(input);
        Assert.Equal(3 * 4 * 8 * 8, actual.Length);
        Parity.AssertClose(Parity.FirstHalfChannels(fx.Dit.Floats("out"), 3), actual, what: "OnnxDenoiser epsilon");
    }

    [Fact]
    public void The_batch_axis_is_dynamic_rows_run_alone_give_the_same_result()
    {
        // Exported with a batch of 2, compared above with 3; here with 1 row at a time.
        using var model = new OnnxDenoiser(fx.DitManifest);
        var x = fx.Dit.Floats("x");
        var t = Ints(fx.Dit.Longs("t"));
        var y = Ints(fx.Dit.Longs("y"));
        var expected = Parity.FirstHalfChannels(fx.Dit.Floats("out"), 3);
        for (int b = 0; b < 3; b++)
        {
            var row = model.Run(new DenoiseInput(x[(b * 256)..((b + 1) * 256)], [t[b]], [y[b]], 1f));
            Parity.AssertClose(expected.AsSpan(b * 256, 256), row, what: $"row {b} (class {y[b]})");
        }
    }

    [Fact]
    public async Task Guided_calls_run_the_conditional_and_null_class_halves_together()
    {
        // Guidance 1.5 on row 0 = uncond + 1.5 (cond - uncond), both halves taken from PyTorch's rows
        // at the same x and t: run row 0 with its label and with the null class explicitly.
        using var model = new OnnxDenoiser(fx.DitManifest);
        var x0 = fx.Dit.Floats("x")[..256];
        int t0 = (int)fx.Dit.Longs("t")[0], y0 = (int)fx.Dit.Longs("y")[0];
        var cond = model.Run(new DenoiseInput(x0, [t0], [y0], 1f));
        var uncond = model.Run(new DenoiseInput(x0, [t0], [model.Info.NullClassId], 1f));
        var guided = await model.DenoiseAsync(new DenoiseInput(x0, [t0], [y0], 1.5f));
        var expected = cond.Zip(uncond, (c, u) => u + 1.5f * (c - u)).ToArray();
        Parity.AssertClose(expected, guided, 1e-5f, "guided");
        Assert.NotEqual(cond, uncond);  // the null-class embedding row is wired in
    }
}
