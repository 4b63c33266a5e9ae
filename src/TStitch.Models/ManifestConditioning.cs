namespace TStitch.Models;

/// <summary>
/// What a model is conditioned on, declared in its manifest (<c>"conditioning": {"kind": "class-label"}</c>).
/// Only class labels are served today (the class_labels of a request, the model's null class for
/// guidance). Declaring the kind as data means a text-embedding family later (Stable Diffusion pairs)
/// is a new kind plus its input tensor here, with no new RPC and no sampler change: samplers only see
/// a denoiser, never its conditioning. Models stitched together must share the kind.
/// </summary>
public sealed record ManifestConditioning(string Kind = ManifestConditioning.ClassLabel)
{
    public const string ClassLabel = "class-label";

    /// <summary>The kinds this version can serve.</summary>
    public static readonly IReadOnlyList<string> Served = [ClassLabel];
}
