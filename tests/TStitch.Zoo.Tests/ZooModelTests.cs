using TStitch.Models;
using TStitch.Imaging;
using TStitch.Models.Zoo;
using TStitch.Sampling;

namespace TStitch.Zoo.Tests;

[Collection(ZooCollection.Name)]
public class ZooModelTests(ZooFixture zoo)
{
    [Theory]
    [InlineData("small", 2)]
    [InlineData("base", 10)]
    [InlineData("large", 60)]
    public async Task Onnx_epsilon_matches_the_closed_form_in_csharp(string name, int componentsPerClass)
    {
        var options = zoo.Zoo.Options;
        var mixture = GaussianMixture.Fit(options.Train(), ShapesDataset.Classes, componentsPerClass,
            options.KMeansIterations, options.Seed * 1000);
        var model = zoo.Model(name);
        Assert.Equal(ShapesDataset.Classes * componentsPerClass, mixture.Components);
        var schedule = NoiseSchedule.Linear();
        var heldOut = options.HeldOut();
        int batch = 12, d = mixture.Dimension;
        var x = new float[batch * d];
        var t = new int[batch];
        var y = new int[batch];
        var rng = new Random(5);
        for (int b = 0; b < batch; b++)
        {
            // Half pure noise, half noised held-out images, across the whole schedule and the null class.
            t[b] = rng.Next(0, 1000);
            y[b] = b % 11;
            var noise = new float[d];
            StepNoise.Fill(noise, 77, b, 0);
            double a = schedule.AlphasCumprod[t[b]];
            for (int i = 0; i < d; i++)
                x[b * d + i] = b % 2 == 0 ? noise[i] : (float)(Math.Sqrt(a) * heldOut.Image(b)[i] + Math.Sqrt(1 - a) * noise[i]);
        }
        var eps = await model.DenoiseAsync(new DenoiseInput(x, t, y, 1f));
        double worst = 0;
        for (int b = 0; b < batch; b++)
        {
            var reference = mixture.Epsilon(x.AsSpan(b * d, d), schedule.AlphasCumprod[t[b]], y[b], ShapesDataset.Classes);
            for (int i = 0; i < d; i++)
                worst = Math.Max(worst, Math.Abs(reference[i] - eps[b * d + i]) / Math.Max(1, Math.Abs(reference[i])));
        }
        Assert.True(worst < 1e-4, $"{name}: worst relative error {worst:E2}");
    }

    [Fact]
    public void Manifests_describe_the_models_with_costs_relative_to_large()
    {
        foreach (var name in zoo.Zoo.ModelNames)
        {
            var m = ModelManifest.Load(zoo.Zoo.ManifestPath(name));
            Assert.Equal(name, m.Name);
            Assert.Equal(new[] { 3, 32, 32 }, m.LatentShape);
            Assert.Equal(PredictionKind.Epsilon, m.Prediction);
            Assert.Equal(10, m.NullClassId);
            Assert.True(m.RelativeCost > 0);
            Assert.True(m.CostMsPerSample > 0);
        }
        Assert.Equal(1.0, zoo.Models["large"].Info.RelativeCost);
    }

    [Fact]
    public async Task Guidance_scale_zero_is_the_null_class_and_scale_one_the_conditional()
    {
        var model = zoo.Model("base");
        var x = new float[2 * 3072];
        StepNoise.Fill(x, 3, 0, 0);
        int[] t = [600, 600];
        var cond = await model.DenoiseAsync(new DenoiseInput(x, t, [2, 5], 1f));
        var uncond = await model.DenoiseAsync(new DenoiseInput(x, t, [10, 10], 1f));
        Assert.Equal(uncond, await model.DenoiseAsync(new DenoiseInput(x, t, [2, 5], 0f)));
        var guided = await model.DenoiseAsync(new DenoiseInput(x, t, [2, 5], 3f));
        for (int i = 0; i < x.Length; i += 97)
            Assert.Equal(uncond[i] + 3f * (cond[i] - uncond[i]), guided[i], 1e-5f);
    }

    [Fact]
    public async Task Wrong_shapes_and_labels_are_rejected_before_onnx_runs()
    {
        var model = zoo.Model("small");
        long runs = model.Runs;
        var ex = await Assert.ThrowsAnyAsync<ArgumentException>(() => model.DenoiseAsync(new DenoiseInput(new float[100], [5], [1], 1f)));
        Assert.Contains("3 x 32 x 32", ex.Message);
        await Assert.ThrowsAnyAsync<ArgumentException>(() => model.DenoiseAsync(new DenoiseInput(new float[3072], [5], [11], 1f)));
        Assert.Equal(runs, model.Runs);
    }

    [Fact]
    public void Dataset_is_deterministic_and_png_grids_encode()
    {
        var a = ShapesDataset.Generate(20, 4);
        Assert.Equal(a.Pixels, ShapesDataset.Generate(20, 4).Pixels);
        Assert.NotEqual(a.Pixels, ShapesDataset.Generate(20, 5).Pixels);
        Assert.All(a.Pixels, v => Assert.InRange(v, -1f, 1f));
        var png = ImageGrid.ToPng(a.Pixels, 20, 3, 32, 32, columns: 10);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, png[..4]);
        // IHDR width and height (big-endian) at bytes 16..23: 10 x (32 + 2) + 2 by 2 x 34 + 2.
        Assert.Equal(342, (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);
        Assert.Equal(70, (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);
    }
}
