namespace TStitch.Sampling;

/// <summary>
/// One batched denoiser call: latents (B x C x H x W) and original timesteps per sample, conditioned on
/// a class label per sample or, for text models, on a text embedding per sample (<see cref="Context"/>,
/// B x tokens x width; with guidance also <see cref="UnconditionalContext"/>, the negative prompts').
/// Text models ignore <see cref="ClassLabels"/>, which may then be empty.
/// </summary>
public sealed record DenoiseInput(float[] Latents, int[] Timesteps, int[] ClassLabels, float GuidanceScale)
{
    public float[]? Context { get; init; }
    public float[]? UnconditionalContext { get; init; }

    public int Batch => Timesteps.Length;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first bad field.</summary>
    public void Validate(DenoiserInfo info)
    {
        ArgumentNullException.ThrowIfNull(Latents, "latents");
        ArgumentNullException.ThrowIfNull(Timesteps, "timesteps");
        ArgumentNullException.ThrowIfNull(ClassLabels, "class_labels");
        if (Batch == 0)
            throw new InvalidRequestException("timesteps", "timesteps is empty: a batch needs at least one sample.");
        if (Latents.Length != Batch * info.SampleSize)
            throw new InvalidRequestException("latents",
                $"latents has {Latents.Length} values; model '{info.Name}' expects {Batch} x {info.Channels} x {info.Height} x " +
                    $"{info.Width} = {Batch * info.SampleSize}.");
        for (int b = 0; b < Batch; b++)
            if (Timesteps[b] < 0 || Timesteps[b] >= info.TrainingSteps)
                throw new InvalidRequestException("timesteps", $"timesteps[{b}] = {Timesteps[b]} is outside [0, {info.TrainingSteps}).");
        if (info.Text is { } shape) ValidateText(info, shape);
        else ValidateClassLabels(info);
        TrajectoryLimits.Guidance(GuidanceScale);
        FiniteValues.Require(Latents, "latents", "latents");
    }

    private void ValidateClassLabels(DenoiserInfo info)
    {
        if (Context is not null || UnconditionalContext is not null)
            throw new InvalidRequestException("context",
                $"Model '{info.Name}' is conditioned on class labels, not on a text embedding; send class_labels and no context.");
        if (ClassLabels.Length != Batch)
            throw new InvalidRequestException("class_labels",
                $"class_labels has {ClassLabels.Length} entries but timesteps has {Batch}; give one of each per sample.");
        for (int b = 0; b < Batch; b++)
            if (ClassLabels[b] < 0 || (ClassLabels[b] >= info.NumClasses && ClassLabels[b] != info.NullClassId))
                throw new InvalidRequestException("class_labels",
                    $"class_labels[{b}] = {ClassLabels[b]} is not a class of '{info.Name}' (0..{info.NumClasses - 1}, null class " +
                        $"{info.NullClassId}).");
    }

    private void ValidateText(DenoiserInfo info, EmbeddingShape shape)
    {
        int expected = Batch * shape.Size;
        if (Context is null || Context.Length != expected)
            throw new InvalidRequestException("context",
                $"context has {Context?.Length ?? 0} values; model '{info.Name}' is conditioned on text embeddings and expects {Batch} x " +
                    $"{shape} = {expected}.");
        PromptEmbeddings.CheckFinite(Context, "context");
        if (!Guidance.IsNeeded(GuidanceScale)) return;
        if (UnconditionalContext is null || UnconditionalContext.Length != expected)
            throw new InvalidRequestException("unconditional_context",
                $"unconditional_context has {UnconditionalContext?.Length ?? 0} values; guidance on model '{info.Name}' needs the " +
                    $"negative (or empty) prompts' embeddings, {Batch} x {shape} = {expected}.");
        PromptEmbeddings.CheckFinite(UnconditionalContext, "unconditional_context");
    }
}
