using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

/// <summary>A per-sample analytic denoiser: eps = tanh(0.5 x + 0.01 t + 0.1 y), so answers depend on every input.</summary>
internal sealed class FakeDenoiser(string name, int sampleSize = 4, PredictionKind prediction = PredictionKind.Epsilon,
    double scale = 1.0) : IDenoiser
{
    public int Calls;
    public DenoiserInfo Info { get; } = new(name, 1, 1, sampleSize, prediction, 10, 10, ScheduleKind.Linear, 1000, 1.0);

    public Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default)
    {
        input.Validate(Info);
        Interlocked.Increment(ref Calls);
        var output = new float[input.Latents.Length];
        for (int b = 0; b < input.Batch; b++)
            for (int i = 0; i < sampleSize; i++)
            {
                int k = b * sampleSize + i;
                output[k] = (float)(scale * Math.Tanh(0.5 * input.Latents[k] + 0.01 * input.Timesteps[b] + 0.1 * input.ClassLabels[b]));
            }
        return Task.FromResult(output);
    }
}
