namespace TStitch.Sampling;

/// <summary>One batched denoiser call: latents (B x C x H x W), original timesteps and class labels per sample.</summary>
public sealed record DenoiseInput(float[] Latents, int[] Timesteps, int[] ClassLabels, float GuidanceScale)
{
    public int Batch => Timesteps.Length;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first bad field.</summary>
    public void Validate(DenoiserInfo info)
    {
        ArgumentNullException.ThrowIfNull(Latents, "latents");
        ArgumentNullException.ThrowIfNull(Timesteps, "timesteps");
        ArgumentNullException.ThrowIfNull(ClassLabels, "class_labels");
        if (Batch == 0)
            throw new InvalidRequestException("timesteps", "timesteps is empty: a batch needs at least one sample.");
        if (ClassLabels.Length != Batch)
            throw new InvalidRequestException("class_labels",
                $"class_labels has {ClassLabels.Length} entries but timesteps has {Batch}; give one of each per sample.");
        if (Latents.Length != Batch * info.SampleSize)
            throw new InvalidRequestException("latents",
                $"latents has {Latents.Length} values; model '{info.Name}' expects {Batch} x {info.Channels} x {info.Height} x " +
                    $"{info.Width} = {Batch * info.SampleSize}.");
        for (int b = 0; b < Batch; b++)
        {
            if (Timesteps[b] < 0 || Timesteps[b] >= info.TrainingSteps)
                throw new InvalidRequestException("timesteps", $"timesteps[{b}] = {Timesteps[b]} is outside [0, {info.TrainingSteps}).");
            if (ClassLabels[b] < 0 || (ClassLabels[b] >= info.NumClasses && ClassLabels[b] != info.NullClassId))
                throw new InvalidRequestException("class_labels",
                    $"class_labels[{b}] = {ClassLabels[b]} is not a class of '{info.Name}' (0..{info.NumClasses - 1}, null class " +
                        $"{info.NullClassId}).");
        }
        TrajectoryLimits.Guidance(GuidanceScale);
        for (int k = 0; k < Latents.Length; k++)
            if (!float.IsFinite(Latents[k]))
                throw new InvalidRequestException("latents", $"latents[{k}] is {Latents[k]}; latents must be finite.");
    }
}
