namespace TStitch.Sampling;

/// <summary>What a sampler must know about a denoiser: its latent shape, parametrisation, classes, schedule.</summary>
public sealed record DenoiserInfo(
    string Name,
    int Channels,
    int Height,
    int Width,
    PredictionKind Prediction,
    int NumClasses,
    int NullClassId,
    ScheduleKind Schedule,
    int TrainingSteps,
    double RelativeCost)
{
    public int SampleSize => Channels * Height * Width;
}

/// <summary>One batched denoiser call: latents (B x C x H x W), original timesteps and class labels per sample.</summary>
public sealed record DenoiseInput(float[] Latents, int[] Timesteps, int[] ClassLabels, float GuidanceScale)
{
    public int Batch => Timesteps.Length;

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first bad field (services map it to InvalidArgument).</summary>
    public void Validate(DenoiserInfo info)
    {
        ArgumentNullException.ThrowIfNull(Latents, "latents");
        ArgumentNullException.ThrowIfNull(Timesteps, "timesteps");
        ArgumentNullException.ThrowIfNull(ClassLabels, "class_labels");
        if (Batch == 0)
            throw new ArgumentException("timesteps is empty: a batch needs at least one sample.", "timesteps");
        if (ClassLabels.Length != Batch)
            throw new ArgumentException($"class_labels has {ClassLabels.Length} entries but timesteps has {Batch}; give one of each per sample.", "class_labels");
        if (Latents.Length != Batch * info.SampleSize)
            throw new ArgumentException($"latents has {Latents.Length} values; model '{info.Name}' expects {Batch} x {info.Channels} x {info.Height} x {info.Width} = {Batch * info.SampleSize}.", "latents");
        for (int b = 0; b < Batch; b++)
        {
            if (Timesteps[b] < 0 || Timesteps[b] >= info.TrainingSteps)
                throw new ArgumentOutOfRangeException("timesteps", $"timesteps[{b}] = {Timesteps[b]} is outside [0, {info.TrainingSteps}).");
            if (ClassLabels[b] < 0 || (ClassLabels[b] >= info.NumClasses && ClassLabels[b] != info.NullClassId))
                throw new ArgumentOutOfRangeException("class_labels", $"class_labels[{b}] = {ClassLabels[b]} is not a class of '{info.Name}' (0..{info.NumClasses - 1}, null class {info.NullClassId}).");
        }
        if (!float.IsFinite(GuidanceScale) || GuidanceScale < 0)
            throw new ArgumentOutOfRangeException("guidance_scale", $"guidance_scale must be a finite number >= 0, got {GuidanceScale}.");
        for (int k = 0; k < Latents.Length; k++)
            if (!float.IsFinite(Latents[k]))
                throw new ArgumentException($"latents[{k}] is {Latents[k]}; latents must be finite.", "latents");
    }
}

/// <summary>
/// A denoiser: in process (ONNX Runtime) or remote (a gRPC pool). Output has C channels, guidance
/// applied. Implementations read the input's arrays only until the returned task completes and never
/// change them, so callers may pass their live buffers without copying.
/// </summary>
public interface IDenoiser
{
    DenoiserInfo Info { get; }
    Task<float[]> DenoiseAsync(DenoiseInput input, CancellationToken cancellationToken = default);
}

/// <summary>
/// Classifier-free guidance as DiT's forward_with_cfg does it: run the batch twice, conditional and
/// with the null class, and mix out = uncond + s (cond - uncond). Mixing raw outputs is exact for
/// eps, v and x0 alike because all three are linear in x_t.
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
