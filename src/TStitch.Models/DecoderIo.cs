namespace TStitch.Models;

/// <summary>Tensor names of a decoder graph (tools/export/export_vae.py writes "latents" and "image").</summary>
public sealed record DecoderIo(string Latents = "latents", string Output = "image");
