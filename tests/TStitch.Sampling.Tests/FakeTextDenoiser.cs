using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

/// <summary>
/// A text-conditioned analytic denoiser: eps = tanh(0.5 x + 0.01 t + 0.1 mean(context row)), so the answer
/// depends on each sample's embedding. Records the contexts it was called with.
/// </summary>
internal sealed class FakeTextDenoiser(string name, EmbeddingShape shape, int sampleSize = 4) : IDenoiser
{
    public readonly List<DenoiseInput> Inputs = [];
    public DenoiserInfo Info { get; } = new(name, 1, 1, sampleSize, PredictionKind.Epsilon, 0, 0, ScheduleKind.ScaledLinear, 1000, 1.0,
        TimestepSpacing.Leading, shape);

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        input.Validate(Info);
        lock (Inputs) Inputs.Add(input);
        var cond = Run(input.Latents, input.Timesteps, input.Context!);
        if (!Guidance.IsNeeded(input.GuidanceScale)) return Task.FromResult(cond);
        var uncond = Run(input.Latents, input.Timesteps, input.UnconditionalContext!);
        return Task.FromResult(Guidance.Combine([.. cond, .. uncond], input.GuidanceScale));
    }

    private float[] Run(float[] latents, int[] timesteps, float[] context)
    {
        var output = new float[latents.Length];
        for (int b = 0; b < timesteps.Length; b++)
        {
            double mean = context.AsSpan(b * shape.Size, shape.Size).ToArray().Average();
            for (int i = 0; i < sampleSize; i++)
            {
                int k = b * sampleSize + i;
                output[k] = (float)Math.Tanh(0.5 * latents[k] + 0.01 * timesteps[b] + 0.1 * mean);
            }
        }
        return output;
    }
}
