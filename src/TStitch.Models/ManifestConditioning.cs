using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>
/// What a model is conditioned on, declared in its manifest: <c>{"kind": "class-label"}</c> (the
/// class_labels of a request, the model's null class for guidance) or <c>{"kind": "text-embedding",
/// "tokens": 77, "width": 768}</c> (a text encoder's output per prompt; the negative or empty prompt's
/// for guidance). Samplers only see a denoiser, never its conditioning; stitched models must share it.
/// </summary>
public sealed record ManifestConditioning(string Kind = ManifestConditioning.ClassLabel, int Tokens = 0, int Width = 0)
{
    public const string ClassLabel = "class-label";
    public const string TextEmbedding = "text-embedding";

    /// <summary>The kinds this version can serve.</summary>
    public static readonly IReadOnlyList<string> Served = [ClassLabel, TextEmbedding];

    /// <summary>[tokens, width] of one prompt's embedding; null for class labels.</summary>
    public EmbeddingShape? Text => Kind == TextEmbedding ? new EmbeddingShape(Tokens, Width) : null;

    public void Validate(string source)
    {
        if (!Served.Contains(Kind))
            throw new InvalidDataException(
                $"{source}: conditioning kind '{Kind}' is not served by this version; known: {string.Join(", ", Served)}.");
        if (Kind == TextEmbedding && (Tokens < 1 || Width < 1))
            throw new InvalidDataException(
                $"{source}: conditioning kind '{TextEmbedding}' needs positive \"tokens\" and \"width\" (SD v1: 77 and 768), " +
                    $"got {Tokens} and {Width}.");
    }
}
