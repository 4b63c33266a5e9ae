using System.CommandLine;

namespace TStitch.Cli;

/// <summary>
/// The options several commands share, declared once so their names, defaults and help agree
/// (one seed default everywhere; a command that needs another value says so on its own line).
/// </summary>
internal static class CliOptions
{
    public const ulong DefaultSeed = 1;

    public static Option<string> Models() => new("--models") { Description = "Model zoo folder (built if absent).", DefaultValueFactory = _ => "models" };
    public static Option<int> Steps() => new("--steps") { Description = "Sampling steps.", DefaultValueFactory = _ => 50 };
    public static Option<string> Sampler() => new("--sampler") { Description = "ddim, ddpm or dpm-solver++.", DefaultValueFactory = _ => "ddim" };
    public static Option<ulong> Seed() => new("--seed") { Description = "Noise seed.", DefaultValueFactory = _ => DefaultSeed };
    public static Option<float> Guidance() => new("--guidance") { Description = "Classifier-free guidance scale (1 = none, 0 = " +
        "unconditional).", DefaultValueFactory = _ => 1f };
    public static Option<double> SmallFraction() => new("--small-fraction") { Description = "Fraction of the steps run by the small " +
        "model (then large).", DefaultValueFactory = _ => 0.4 };
    public static Option<string> Redis() => new("--redis") { Description = "Redis for the job store (host:port); empty = in memory.", DefaultValueFactory = _ => "" };
}
