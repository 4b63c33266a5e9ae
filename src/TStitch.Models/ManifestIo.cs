namespace TStitch.Models;

/// <summary>
/// Tensor names the ONNX graph uses; DiT and diffusers exports name them differently, so they are data.
/// A class-label model reads <see cref="ClassLabels"/>, a text-embedding model <see cref="Context"/>.
/// </summary>
public sealed record ManifestIo(string Latents = "x", string Timesteps = "t", string ClassLabels = "y", string Output = "out",
    string Context = "context");
