namespace TStitch.Sampling;

/// <summary>
/// The text conditioning of a batch, one embedding per sample: the prompts', and for classifier-free
/// guidance the negative prompts' (the empty prompt's when none was given), which play the role the
/// null class plays for class-conditional models. Computed once per job by a text encoder; the
/// sampler never sees it, only the denoiser calls do.
/// </summary>
public sealed record PromptEmbeddings(float[] Conditional, float[] Unconditional, EmbeddingShape Shape)
{
    public int Batch => Conditional.Length / Shape.Size;

    /// <summary>Throws an <see cref="InvalidRequestException"/> naming the first bad field.</summary>
    public PromptEmbeddings Validate(string field = "prompt_embeddings")
    {
        ArgumentNullException.ThrowIfNull(Shape, field);
        if (Shape.Tokens < 1 || Shape.Width < 1)
            throw new InvalidRequestException(field, $"{field} has shape {Shape}; tokens and width must be positive.");
        if (Conditional is null || Conditional.Length == 0 || Conditional.Length % Shape.Size != 0)
            throw new InvalidRequestException(field,
                $"{field} has {Conditional?.Length ?? 0} values, not a positive multiple of one embedding ({Shape} = {Shape.Size}).");
        if (Unconditional is null || Unconditional.Length != Conditional.Length)
            throw new InvalidRequestException(field,
                $"{field}: the unconditional embeddings have {Unconditional?.Length ?? 0} values, the conditional {Conditional.Length}; " +
                    "give one of each per sample.");
        CheckFinite(Conditional, field);
        CheckFinite(Unconditional, field);
        return this;
    }

    internal static void CheckFinite(float[] values, string field) => FiniteValues.Require(values, field, "embeddings");
}
