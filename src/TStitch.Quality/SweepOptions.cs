using TStitch.Models.Zoo;
using TStitch.Sampling;

namespace TStitch.Quality;

/// <summary>What a sweep samples: how many images, the sampler, and which two models it stitches.</summary>
public sealed record SweepOptions
{
    public int Samples { get; init; } = 1000;
    public int Steps { get; init; } = 50;
    public SamplerKind Sampler { get; init; } = SamplerKind.Ddim;
    public float GuidanceScale { get; init; } = 1f;
    public ulong Seed { get; init; } = 7;
    public string Small { get; init; } = ModelZoo.Small;
    public string Large { get; init; } = ModelZoo.Large;
    /// <summary>Images per trajectory when measuring latency (chunk c is seeded Seed + c); 0 = all samples in one batch.</summary>
    public int Batch { get; init; }
}
