using System.Text.Json;

namespace TStitch.Models;

/// <summary>
/// The JSON next to a latent decoder's ONNX graph (kind "vae-decoder", written by
/// tools/export/export_vae.py): what shape goes in, what comes out, and whether the latent scaling
/// of the VAE is already inside the graph.
/// </summary>
public sealed record DecoderManifest
{
    public const string DecoderKind = "vae-decoder";

    public required string Name { get; init; }
    /// <summary>
    /// Absent in hand-written manifests; when present it must say this is a decoder, so a denoiser manifest is not loaded by mistake.
    /// </summary>
    public string Kind { get; init; } = DecoderKind;
    /// <summary>ONNX file name, relative to the manifest.</summary>
    public required string Onnx { get; init; }
    public DecoderIo Io { get; init; } = new();
    /// <summary>
    /// [C, H, W] of one latent. Not `required`: Validate reports it (after checking kind) with a clearer message than the serializer.
    /// </summary>
    public int[] LatentShape { get; init; } = [];
    /// <summary>[3, H * f, W * f] of one decoded image.</summary>
    public int[] ImageShape { get; init; } = [];
    /// <summary>The VAE's latent scale (SD: 0.18215): diffusion runs on latents multiplied by it.</summary>
    public double ScaleFactor { get; init; } = 1.0;
    /// <summary>
    /// True when the graph divides by <see cref="ScaleFactor"/> itself (our exports). False for graphs
    /// that expect unscaled latents; <see cref="OnnxDecoder"/> then divides before running.
    /// </summary>
    public bool ScaleInGraph { get; init; } = true;
    public string? Description { get; init; }

    public int LatentSize => LatentShape[0] * LatentShape[1] * LatentShape[2];
    public int ImageSize => ImageShape[0] * ImageShape[1] * ImageShape[2];

    public static DecoderManifest Load(string path)
    {
        if (!File.Exists(path))
            throw new FileNotFoundException($"Decoder manifest '{path}' does not exist.", path);
        var m = JsonSerializer.Deserialize<DecoderManifest>(File.ReadAllText(path), ModelManifest.Json)
                ?? throw new InvalidDataException($"Decoder manifest '{path}' is empty.");
        m.Validate(path);
        return m;
    }

    public void Validate(string source)
    {
        if (Kind != DecoderKind)
            throw new InvalidDataException($"{source}: kind is '{Kind}', not '{DecoderKind}'.");
        if (LatentShape is not { Length: 3 } || LatentShape.Any(d => d < 1))
            throw new InvalidDataException($"{source}: latentShape must be [C, H, W] with positive sizes.");
        if (ImageShape is not { Length: 3 } || ImageShape.Any(d => d < 1))
            throw new InvalidDataException($"{source}: imageShape must be [C, H, W] with positive sizes.");
        if (!(ScaleFactor > 0) || !double.IsFinite(ScaleFactor))
            throw new InvalidDataException($"{source}: scaleFactor must be a positive number, got {ScaleFactor}.");
    }
}
