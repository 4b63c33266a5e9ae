using System.Text.Json;
using System.Text.Json.Serialization;
using TStitch.Sampling;

namespace TStitch.Models;

/// <summary>
/// The JSON next to every servable model (model.onnx + model.json). The services load any ONNX model
/// that has one, a user's DiT export included, and validate requests against it.
/// </summary>
public sealed record ModelManifest
{
    public required string Name { get; init; }
    /// <summary>ONNX file name, relative to the manifest.</summary>
    public required string Onnx { get; init; }
    public ManifestIo Io { get; init; } = new();
    /// <summary>[C, H, W] of one latent.</summary>
    public required int[] LatentShape { get; init; }
    public PredictionKind Prediction { get; init; } = PredictionKind.Epsilon;
    /// <summary>DiT-style: the model outputs 2C channels and the first C are the prediction.</summary>
    public bool LearnedSigma { get; init; }
    public ManifestSchedule Schedule { get; init; } = new();
    /// <summary>Classes of a class-label model (required for those); unused by text-embedding models.</summary>
    public int NumClasses { get; init; }
    public int NullClassId { get; init; }
    /// <summary>"int64" (this project's models) or "float32" (common in DiT exports).</summary>
    public string TimestepType { get; init; } = "int64";
    /// <summary>Measured cost per sample relative to the biggest model of its zoo (a timing, so machine dependent).</summary>
    public double RelativeCost { get; init; } = 1.0;
    /// <summary>Measured ONNX Runtime milliseconds per sample (batch in <see cref="CostBatch"/>), on the machine that built it.</summary>
    public double CostMsPerSample { get; init; }
    public int CostBatch { get; init; }
    public string? Description { get; init; }
    /// <summary>What the model is conditioned on; absent = class labels (every manifest before this field).</summary>
    public ManifestConditioning Conditioning { get; init; } = new();
    /// <summary>
    /// Optional decoder manifest (kind "vae-decoder"), relative to this manifest, e.g. "vae.json": the
    /// replica loads it and serves Decode, so the orchestrator turns this model's latents into images.
    /// </summary>
    public string? Decoder { get; init; }

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    public static ModelManifest Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Model manifest '{path}' does not exist.", path);
        var m = JsonSerializer.Deserialize<ModelManifest>(File.ReadAllText(path), Json)
                ?? throw new InvalidDataException($"Model manifest '{path}' is empty.");
        m.Validate(path);
        return m;
    }

    public void Save(string path) => File.WriteAllText(path, JsonSerializer.Serialize(this, Json));

    public void Validate(string source)
    {
        if (LatentShape is not { Length: 3 } || LatentShape.Any(d => d < 1))
            throw new InvalidDataException($"{source}: latentShape must be [C, H, W] with positive sizes.");
        if (Conditioning is null)
            throw new InvalidDataException($"{source}: conditioning is null; leave it out for class labels or give its kind.");
        Conditioning.Validate(source);
        if (Conditioning.Kind == ManifestConditioning.ClassLabel && NumClasses < 1)
            throw new InvalidDataException($"{source}: numClasses must be >= 1 for a class-label model.");
        if (TimestepType is not ("int64" or "float32"))
            throw new InvalidDataException($"{source}: timestepType must be int64 or float32, got '{TimestepType}'.");
        if (Decoder is { } d && string.IsNullOrWhiteSpace(d))
            throw new InvalidDataException($"{source}: decoder is empty; name a decoder manifest (e.g. \"vae.json\") or leave it out.");
    }

    /// <summary>Full path of the decoder manifest named by a manifest loaded from <paramref name="manifestPath"/>, or null.</summary>
    public string? DecoderPath(string manifestPath) =>
        Decoder is null ? null : Path.GetFullPath(Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, Decoder));

    public DenoiserInfo ToInfo() => new(Name, LatentShape[0], LatentShape[1], LatentShape[2], Prediction, NumClasses, NullClassId,
        Schedule.Kind, Schedule.TrainingSteps, RelativeCost, Schedule.Spacing, Conditioning.Text);
}
