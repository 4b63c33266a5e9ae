namespace TStitch.Models;

/// <summary>Tensor names the ONNX graph uses; DiT exports name them differently, so they are data.</summary>
public sealed record ManifestIo(string Latents = "x", string Timesteps = "t", string ClassLabels = "y", string Output = "out");
