using Microsoft.Extensions.Options;
using TStitch.Models;
using TStitch.Models.Text;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// Prompts -> embeddings for text families, in the orchestrator's process (Orchestrator:TextEncoder names
/// the text-encoder manifest; unset = this orchestrator serves class families only).
/// In process rather than a pool of its own: the encoder runs once per job (SD: one CLIP pass against
/// 2 x steps UNet passes), the submit path needs the tokenizer anyway to refuse over-long prompts before a
/// job exists, and one model family shares one encoder, so a pool would add a hop, a deployment and a
/// failure mode for ~1 % of a job's compute. Encoding is deterministic, so a resumed job encodes again
/// instead of storing the embeddings in the job store.
/// </summary>
public sealed class PromptEncoder : IDisposable
{
    /// <summary>
    /// Longer prompts are refused before tokenizing: BPE cost grows faster than linearly in a word's
    /// length, and no prompt that fits CLIP's 77 tokens comes near this.
    /// </summary>
    public const int MaxPromptCharacters = 2048;

    private readonly OnnxTextEncoder? _encoder;

    public PromptEncoder(IOptions<OrchestratorOptions> options)
    {
        var path = options.Value.TextEncoder;
        if (!string.IsNullOrWhiteSpace(path)) _encoder = new OnnxTextEncoder(path, new OnnxSessionOptions());
    }

    /// <summary>[tokens, width] of one prompt's embedding; null without a text encoder.</summary>
    public EmbeddingShape? Shape => _encoder is null ? null : new EmbeddingShape(_encoder.Manifest.MaxTokens, _encoder.Manifest.Width);

    /// <summary>
    /// Zero embeddings of <paramref name="shape"/> for checks that read only shapes (submit-time checks run
    /// before the encoder does). Shape 1 x 1 when only the count matters.
    /// </summary>
    public static PromptEmbeddings StandIn(int batch, EmbeddingShape? shape = null)
    {
        shape ??= new EmbeddingShape(1, 1);
        return new PromptEmbeddings(new float[batch * shape.Size], new float[batch * shape.Size], shape);
    }

    /// <summary>Stand-ins shaped as this encoder's output, after checking every prompt fits its token limit.</summary>
    public PromptEmbeddings Check(JobSpec spec)
    {
        var encoder = Require();
        for (int i = 0; i < spec.Prompts!.Count; i++) CheckLength(encoder, spec.Prompts[i], $"prompts[{i}]");
        if (spec.NegativePrompt is { } negative) CheckLength(encoder, negative, "negative_prompt");
        return StandIn(spec.Batch, Shape);
    }

    /// <summary>The job's embeddings: its prompts', and the negative prompt's (or the empty prompt's) once per image.</summary>
    public async Task<PromptEmbeddings> EncodeAsync(JobSpec spec, CancellationToken cancellationToken)
    {
        var encoder = Require();
        var shape = Shape!;
        // A CLIP run is synchronous CPU work: off the caller's thread. One run: the prompts, then the negative.
        return await Task.Run(() =>
        {
            var both = encoder.Encode([.. spec.Prompts!, spec.NegativePrompt ?? ""]);
            int prompts = spec.Batch * shape.Size;
            var negative = both.AsSpan(prompts, shape.Size);
            var unconditional = new float[prompts];
            for (int b = 0; b < spec.Batch; b++) negative.CopyTo(unconditional.AsSpan(b * shape.Size));
            return new PromptEmbeddings(both[..prompts], unconditional, shape);
        }, cancellationToken).ConfigureAwait(false);
    }

    private OnnxTextEncoder Require() => _encoder ?? throw new InvalidRequestException("prompts",
        "This orchestrator serves no text family: Orchestrator:TextEncoder (a text-encoder manifest) is not set. Send class_labels, " +
            "or configure the text encoder of your text family.");

    private static void CheckLength(OnnxTextEncoder encoder, string prompt, string field)
    {
        if (prompt.Length > MaxPromptCharacters)
            throw new InvalidRequestException(field,
                $"{field} is {prompt.Length} characters; prompts are limited to {MaxPromptCharacters} " +
                    $"(and {encoder.Manifest.MaxTokens} tokens).");
        encoder.Tokenizer.Encode(prompt, field); // refuses a prompt over the token limit, naming the field and the count
    }

    public void Dispose() => _encoder?.Dispose();
}
