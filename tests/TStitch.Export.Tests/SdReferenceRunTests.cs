using TStitch.Models;
using TStitch.Models.Text;
using TStitch.Sampling;

namespace TStitch.Export.Tests;

/// <summary>
/// The stitched text-to-image reference run (tools/export/reference_sd.py: diffusers' DDIMScheduler as SD v1
/// configures it, classifier-free guidance, 3 steps on unet-tiny-small then 3 on unet-tiny) is what the issue 13
/// contract describes, and replaying it from C# (raw ONNX Runtime sessions, the contract's formulas in double, as
/// TStitch.Sampling computes schedules) lands on PyTorch's latents step for step; so does the serving path itself
/// (ClipTokenizer + OnnxTextEncoder, OnnxDenoiser, the library's Trajectory with leading spacing).
/// </summary>
[Collection(ExportCollection.Name)]
public class SdReferenceRunTests(ExportFixture fx)
{
    private const int TrainingSteps = 1000;

    /// <summary>The contract's "scaled-linear" schedule: betas = linspace(sqrt(0.00085), sqrt(0.012), 1000)^2.</summary>
    private static double[] ScaledLinearAlphasCumprod()
    {
        double lo = Math.Sqrt(0.00085), hi = Math.Sqrt(0.012), prod = 1;
        var abar = new double[TrainingSteps];
        for (int t = 0; t < TrainingSteps; t++)
        {
            double b = lo + (hi - lo) * t / (TrainingSteps - 1);
            prod *= 1 - b * b;
            abar[t] = prod;
        }
        return abar;
    }

    [Fact]
    public void The_run_is_six_leading_ddim_steps_three_small_then_three_large_at_guidance_three()
    {
        var f = fx.SdReference.Fields;
        Assert.Equal(6, (int)f["steps"]!);
        Assert.Equal(3, (int)f["smallSteps"]!);
        Assert.Equal(3.0, (double)f["guidanceScale"]!);
        Assert.Equal("../unet-tiny-small.json", (string)f["small"]!);
        Assert.Equal("../unet-tiny.json", (string)f["large"]!);
        Assert.Equal("[cond; uncond]", (string)f["guidanceBatch"]!);
        // Contract: timesteps (S-1-i) * (1000 // S) + 1 for i = 0..S-1.
        long[] expected = [.. Enumerable.Range(0, 6).Select(i => (long)((6 - 1 - i) * (TrainingSteps / 6) + 1))];
        Assert.Equal([831L, 665, 499, 333, 167, 1], expected);
        Assert.Equal(expected, fx.SdReference.Longs("timesteps"));
    }

    [Fact]
    public void PyTorchs_float32_alphas_cumprod_is_the_contracts_scaled_linear_schedule()
    {
        var reference = fx.SdReference.Floats("alphas_cumprod");
        var abar = ScaledLinearAlphasCumprod();
        Assert.Equal(TrainingSteps, reference.Length);
        var worst = Enumerable.Range(0, TrainingSteps).Max(t => Math.Abs(reference[t] - abar[t]) / abar[t]);
        Assert.True(worst < 1e-5, $"alphas_cumprod differs from the double-precision schedule by {worst:g3} (relative)");
    }

    [Fact]
    public void The_embeddings_are_the_text_encoders_output_for_the_prompts_and_the_empty_negative_prompt()
    {
        var f = fx.SdReference;
        var vocab = System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, int>>(
            File.ReadAllText(Path.Combine(fx.Directory, "clip-tiny.vocab.json")))!;
        long start = vocab["<|startoftext|>"], end = vocab["<|endoftext|>"];
        Assert.Equal("", (string)f.Fields["negativePrompt"]!);
        long[] empty = [start, .. Enumerable.Repeat(end, 76)];
        Assert.Equal([.. empty, .. empty], f.Longs("uncond_ids"));
        using var encoder = new RawTextEncoder(fx.ClipManifest);
        Parity.AssertClose(f.Floats("cond"), encoder.Run(f.Longs("cond_ids")), what: "cond embeddings");
        Parity.AssertClose(f.Floats("uncond"), encoder.Run(f.Longs("uncond_ids")), what: "uncond embeddings");
    }

    [Fact]
    public void Replaying_the_run_with_onnx_runtime_lands_on_pytorchs_latents_step_for_step()
    {
        var f = fx.SdReference;
        using var small = new RawUnet(fx.UnetSmallManifest);
        using var large = new RawUnet(fx.UnetManifest);
        int batch = f.Shape("x_T")[0], latent = small.LatentSize,
            steps = (int)f.Fields["steps"]!, smallSteps = (int)f.Fields["smallSteps"]!;
        float scale = (float)(double)f.Fields["guidanceScale"]!;
        var timesteps = f.Longs("timesteps");
        var stepLatents = f.Floats("step_latents");
        float[] context = [.. f.Floats("cond"), .. f.Floats("uncond")];
        var abar = ScaledLinearAlphasCumprod();

        var x = f.Floats("x_T");
        for (int i = 0; i < steps; i++)
        {
            long t = timesteps[i];
            var model = i < smallSteps ? small : large;
            // [cond; uncond], guided as TStitch.Sampling.Guidance.Combine does.
            var both = model.Run([.. x, .. x], [.. Enumerable.Repeat(t, 2 * batch)], context);
            var eps = new float[x.Length];
            for (int k = 0; k < eps.Length; k++)
                eps[k] = both[x.Length + k] + scale * (both[k] - both[x.Length + k]);

            // DDIM, eta 0: set_alpha_to_one false, so the step below t = 1 lands on alphas_cumprod[0].
            long prev = t - TrainingSteps / steps;
            double aT = abar[t], aPrev = prev >= 0 ? abar[prev] : abar[0];
            var next = new float[x.Length];
            for (int k = 0; k < x.Length; k++)
            {
                double x0 = (x[k] - Math.Sqrt(1 - aT) * eps[k]) / Math.Sqrt(aT);
                next[k] = (float)(Math.Sqrt(aPrev) * x0 + Math.Sqrt(1 - aPrev) * eps[k]);
            }
            x = next;

            // Latents grow to ~20 (random weights do not denoise), so the tolerance scales with them: 5e-5 of the
            // largest value (measured: ~1.5e-5 absolute at the end; landing on alpha 1 instead of alphas_cumprod[0]
            // in the last step would be off by ~0.04).
            var expected = stepLatents.AsSpan(i * batch * latent, batch * latent);
            float tolerance = 5e-5f * MathF.Max(1f, expected.ToArray().Max(MathF.Abs));
            Parity.AssertClose(expected, x, tolerance, $"latents after step {i} (t = {t}, {(i < smallSteps ? "small" : "large")})");
        }
        Parity.AssertClose(f.Floats("latents"), x, 5e-5f * MathF.Max(1f, f.Floats("latents").Max(MathF.Abs)), "final latents");
    }

    [Fact]
    public void The_csharp_tokenizer_and_encoder_give_the_reference_ids_and_embeddings()
    {
        var f = fx.SdReference;
        string[] prompts = [.. f.Fields["prompts"]!.AsArray().Select(p => (string)p!)];
        using var encoder = new OnnxTextEncoder(fx.ClipManifest);
        long[] ids = [.. prompts.SelectMany(p => encoder.Tokenizer.Encode(p))];
        Assert.Equal(f.Longs("cond_ids"), ids);
        Parity.AssertClose(f.Floats("cond"), encoder.Encode(prompts), what: "OnnxTextEncoder cond embeddings");
        Parity.AssertClose(f.Floats("uncond"), encoder.Encode(["", ""]), what: "OnnxTextEncoder empty-prompt embeddings");
    }

    [Fact]
    public async Task The_library_trajectory_on_the_served_models_lands_on_pytorchs_latents_step_for_step()
    {
        var f = fx.SdReference;
        using var small = new OnnxDenoiser(fx.UnetSmallManifest);
        using var large = new OnnxDenoiser(fx.UnetManifest);
        int steps = (int)f.Fields["steps"]!, smallSteps = (int)f.Fields["smallSteps"]!;
        var shape = small.Info.Text!;
        var request = new TrajectoryRequest([], steps, SamplerKind.Ddim,
            SwitchSchedule.SmallThenLarge((double)smallSteps / steps, "small", "large"), (float)(double)f.Fields["guidanceScale"]!, 0)
        {
            Prompts = new PromptEmbeddings(f.Floats("cond"), f.Floats("uncond"), shape),
        };
        var trajectory = new Trajectory(request, new Dictionary<string, IDenoiser> { ["small"] = small, ["large"] = large });
        Assert.Equal(f.Longs("timesteps"), trajectory.Sampler.Plan.Timesteps.Select(t => (long)t));

        var stepLatents = f.Floats("step_latents");
        int size = trajectory.Batch * trajectory.Shape.SampleSize;
        var final = await trajectory.RunAsync(new SamplerState(0, f.Floats("x_T")), (done, _) =>
        {
            var expected = stepLatents.AsSpan((done.Step) * size, size);
            float tolerance = 5e-5f * MathF.Max(1f, expected.ToArray().Max(MathF.Abs));
            Parity.AssertClose(expected, done.State.Latents, tolerance, $"library latents after step {done.Step} ({done.ModelId})");
            return ValueTask.CompletedTask;
        });
        Parity.AssertClose(f.Floats("latents"), final.Latents, 5e-5f * MathF.Max(1f, f.Floats("latents").Max(MathF.Abs)), "final latents");
    }
}
