namespace TStitch.Sampling;

/// <summary>
/// Classifier-free guidance as DiT's forward_with_cfg and SD's pipelines do it: run the batch twice,
/// conditional and unconditional (the null class, or the negative/empty prompt's embedding), and mix
/// out = uncond + s (cond - uncond). Mixing raw outputs is exact for eps, v and x0 alike because all
/// three are linear in x_t.
/// </summary>
public static class Guidance
{
    /// <summary>Scale 1 is the plain conditional model: no second pass needed.</summary>
    public static bool IsNeeded(float scale) => scale != 1f;

    public static DenoiseInput WithUnconditionalHalf(DenoiseInput input, int nullClassId)
    {
        int n = input.Latents.Length;
        var latents = new float[2 * n];
        input.Latents.CopyTo(latents, 0);
        input.Latents.CopyTo(latents, n);
        var timesteps = input.Timesteps.Concat(input.Timesteps).ToArray();
        if (input.Context is { } context)
            return new DenoiseInput(latents, timesteps, [], 1f) { Context = [.. context, .. input.UnconditionalContext!] };
        var labels = input.ClassLabels.Concat(Enumerable.Repeat(nullClassId, input.Batch)).ToArray();
        return new DenoiseInput(latents, timesteps, labels, 1f);
    }

    public static float[] Combine(ReadOnlySpan<float> conditionalThenUnconditional, float scale)
    {
        int n = conditionalThenUnconditional.Length / 2;
        var result = new float[n];
        for (int k = 0; k < n; k++)
        {
            float cond = conditionalThenUnconditional[k], uncond = conditionalThenUnconditional[n + k];
            result[k] = uncond + scale * (cond - uncond);
        }
        return result;
    }
}
