using TStitch.Models;
using TStitch.Models.Onnx;
using TStitch.Sampling;
using DT = TStitch.Models.Onnx.TensorProto.Types.DataType;

namespace TStitch.Zoo.Tests;

/// <summary>
/// Models that are not ours load through their manifest alone: here a DiT-style export with float
/// timesteps, other tensor names and a learned-sigma output of 2C channels.
/// </summary>
public class ForeignModelTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tstitch-foreign-").FullName;

    [Fact]
    public async Task A_learned_sigma_export_is_cropped_to_its_first_c_channels()
    {
        // out = concat(0.5 x + t/1000 + y/100, 9) over channels: the first C channels are the prediction.
        var g = new GraphBuilder("dit_like");
        g.AddInput("latent", DT.Float, "N", 4, 8, 8);
        g.AddInput("timestep", DT.Float, "N");
        g.AddInput("label", DT.Int64, "N");
        g.AddOutput("model_out", DT.Float, "N", 8, 8, 8);
        var shape4 = g.Constant("shape4", [-1L, 1, 1, 1], 4);
        var t = g.Op("Reshape", [g.Op("Div", ["timestep", g.Scalar("k", 1000f)]), shape4]);
        var y = g.Op("Reshape", [g.Op("Div", [g.Op("Cast", ["label"], GraphBuilder.Attr("to", (long)DT.Float)),
            g.Scalar("h", 100f)]), shape4]);
        var prediction = g.Op("Add", [g.Op("Add", [g.Op("Mul", ["latent", g.Scalar("half", 0.5f)]), t]), y]);
        var sigma = g.Op("Add", [g.Op("Mul", ["latent", g.Scalar("zero", 0f)]), g.Scalar("nine", 9f)]);
        g.OpNamed("Concat", "model_out", [prediction, sigma], GraphBuilder.Attr("axis", 1L));
        File.WriteAllBytes(Path.Combine(_dir, "dit.onnx"), g.ToModelBytes());
        new ModelManifest
        {
            Name = "dit", Onnx = "dit.onnx", Io = new ManifestIo("latent", "timestep", "label", "model_out"),
            LatentShape = [4, 8, 8], LearnedSigma = true, TimestepType = "float32", Prediction = PredictionKind.V,
            NumClasses = 1000, NullClassId = 1000,
        }.Save(Path.Combine(_dir, "dit.json"));

        using var model = new OnnxDenoiser(Path.Combine(_dir, "dit.json"));
        Assert.Equal(PredictionKind.V, model.Info.Prediction);
        var x = Enumerable.Range(0, 2 * 256).Select(i => (float)Math.Sin(i)).ToArray();
        var output = await model.DenoiseAsync(new DenoiseInput(x, [250, 750], [3, 1000], 1f));
        Assert.Equal(2 * 256, output.Length);
        for (int i = 0; i < output.Length; i++)
        {
            int b = i / 256;
            float expected = 0.5f * x[i] + (b == 0 ? 0.25f : 0.75f) + (b == 0 ? 0.03f : 10f);
            Assert.Equal(expected, output[i], 1e-5f);
        }
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);
}
