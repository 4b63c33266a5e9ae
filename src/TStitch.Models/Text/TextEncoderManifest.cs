using System.Text.Json;

namespace TStitch.Models.Text;

/// <summary>
/// The JSON next to a text encoder's ONNX graph (kind "text-encoder"): the CLIP text model and the
/// tokenizer files it was trained with (vocab.json and merges.txt in CLIP's format), how many tokens a
/// prompt row has and how wide each token's embedding is. The orchestrator loads one to turn prompts
/// into the embeddings the UNet pools are conditioned on.
/// </summary>
public sealed record TextEncoderManifest
{
    public const string TextEncoderKind = "text-encoder";

    // Nothing is `required`: Validate reports a missing field, naming the file, more clearly than the serializer.
    public string Name { get; init; } = "";
    /// <summary>Must be "text-encoder", so a denoiser or decoder manifest is not loaded as one by mistake.</summary>
    public string? Kind { get; init; }
    /// <summary>ONNX file name, relative to the manifest.</summary>
    public string Onnx { get; init; } = "";
    public TextEncoderIo Io { get; init; } = new();
    /// <summary>CLIP's vocab.json (token -> id), relative to the manifest.</summary>
    public string Vocab { get; init; } = "";
    /// <summary>CLIP's merges.txt (first line "#version: 0.2", then one merge per line by rank), relative to the manifest.</summary>
    public string Merges { get; init; } = "";
    /// <summary>Tokens per prompt row, start and end tokens included (CLIP: 77).</summary>
    public int MaxTokens { get; init; }
    /// <summary>Embedding width D of the output [N, MaxTokens, D] (CLIP ViT-L/14: 768).</summary>
    public int Width { get; init; }
    public string StartToken { get; init; } = "<|startoftext|>";
    public string EndToken { get; init; } = "<|endoftext|>";
    /// <summary>What fills a row after the end token (SD v1: the end token again; some exports pad with "!").</summary>
    public string PadToken { get; init; } = "<|endoftext|>";
    public long ParameterCount { get; init; }
    public string? Description { get; init; }

    public static TextEncoderManifest Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Text-encoder manifest '{path}' does not exist.", path);
        TextEncoderManifest? m;
        try
        {
            m = JsonSerializer.Deserialize<TextEncoderManifest>(File.ReadAllText(path), ModelManifest.Json);
        }
        catch (JsonException e)
        {
            throw new InvalidDataException($"Text-encoder manifest '{path}' is not valid: {e.Message}", e);
        }
        if (m is null) throw new InvalidDataException($"Text-encoder manifest '{path}' is empty.");
        m.Validate(path);
        return m;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, ModelManifest.Json));

    public void Validate(string source)
    {
        if (Kind != TextEncoderKind)
            throw new InvalidDataException(Kind is null
                ? $"{source}: kind is missing; a text-encoder manifest says \"kind\": \"{TextEncoderKind}\"."
                : $"{source}: kind is '{Kind}', not '{TextEncoderKind}'.");
        RequireText(source, "name", Name);
        RequireText(source, "onnx", Onnx);
        RequireText(source, "vocab", Vocab);
        RequireText(source, "merges", Merges);
        if (Io is null || string.IsNullOrWhiteSpace(Io.Tokens) || string.IsNullOrWhiteSpace(Io.Output))
            throw new InvalidDataException($"{source}: io must name the graph's \"tokens\" input and \"output\" tensor.");
        if (MaxTokens < 2)
            throw new InvalidDataException($"{source}: maxTokens must be at least 2 (the start and end tokens), got {MaxTokens}.");
        if (Width < 1)
            throw new InvalidDataException($"{source}: width must be the embedding width (positive), got {Width}.");
        RequireText(source, "startToken", StartToken);
        RequireText(source, "endToken", EndToken);
        RequireText(source, "padToken", PadToken);
        if (ParameterCount < 0)
            throw new InvalidDataException($"{source}: parameterCount must not be negative, got {ParameterCount}.");
    }

    /// <summary>Full path of a file the manifest at <paramref name="manifestPath"/> names (onnx, vocab, merges).</summary>
    public static string Resolve(string manifestPath, string file) =>
        Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, file));

    private static void RequireText(string source, string field, string? value)
    {
        if (string.IsNullOrWhiteSpace(value))
            throw new InvalidDataException($"{source}: {field} is missing or empty.");
    }
}
