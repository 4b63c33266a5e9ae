using System.CommandLine;

namespace TStitch.Cli;

/// <summary>
/// The options several commands share, declared once so their names, defaults and help agree
/// (one seed default everywhere; a command that needs another value says so on its own line).
/// </summary>
internal static class CliOptions
{
    public const ulong DefaultSeed = 1;

    public static Option<string> Models() =>
        new("--models") { Description = "Model zoo folder (built if absent).", DefaultValueFactory = _ => "models" };
    public static Option<int> Steps() => new("--steps") { Description = "Sampling steps.", DefaultValueFactory = _ => 50 };
    public static Option<string> Sampler() =>
        new("--sampler") { Description = "ddim, ddpm or dpm-solver++.", DefaultValueFactory = _ => "ddim" };
    public static Option<ulong> Seed() => new("--seed") { Description = "Noise seed.", DefaultValueFactory = _ => DefaultSeed };
    public static Option<float> Guidance() => new("--guidance") { Description = "Classifier-free guidance scale (1 = none, 0 = " +
        "unconditional).", DefaultValueFactory = _ => 1f };
    public static Option<double> SmallFraction() => new("--small-fraction") { Description = "Fraction of the steps run by the small " +
        "model (then large).", DefaultValueFactory = _ => 0.4 };
    /// <summary>Where a running orchestrator's API key comes from when --api-key is not given (keeps it out of shell history).</summary>
    public const string ApiKeyVariable = "TSTITCH_API_KEY";

    public static Option<string?> ApiKey() => new("--api-key")
    {
        Description = $"API key of the orchestrator (sent as 'authorization: Bearer <key>'); default: the {ApiKeyVariable} " +
            $"environment variable, which keeps it out of shell history.",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable(ApiKeyVariable),
    };
    public static Option<string?> CaCert() => new("--ca-cert") { Description = "For an https:// orchestrator: PEM or DER file of the CA " +
        "(or self-signed certificate) to trust instead of the system roots." };
    public static Option<bool> PinThreads() => new("--pin-threads")
    {
        Description = "Keep ONNX Runtime's threads and each run's calling thread on CPUs of their own, in the pools and the in-process " +
            "references alike (Denoiser:PinThreads; for a machine the process owns).",
    };
    public static Option<string> Redis() =>
        new("--redis") { Description = "Redis for the job store (host:port); empty = in memory.", DefaultValueFactory = _ => "" };
}
