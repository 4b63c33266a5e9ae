using System.ComponentModel.DataAnnotations;

namespace TStitch.Orchestration;

/// <summary>Configuration section "Orchestrator".</summary>
public sealed class OrchestratorOptions : IValidatableObject
{
    public const string Section = "Orchestrator";

    /// <summary>Pool name -> address of its Denoiser service, e.g. "small": "http://small-denoiser:5101".</summary>
    public Dictionary<string, string> Pools { get; set; } = new();

    /// <summary>StackExchange.Redis configuration ("localhost:6379"). Empty: in-memory job store (quick start only).</summary>
    public string Redis { get; set; } = "";

    /// <summary>Most images one Generate request may ask for.</summary>
    [Range(1, 4096)]
    public int MaxBatch { get; set; } = 64;

    /// <summary>How long finished jobs (and their results) stay in the job store.</summary>
    public TimeSpan FinishedJobTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>Deadline of one Denoise call; a pool slower than this is treated as unavailable.</summary>
    public TimeSpan DenoiseTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Resume jobs left running by a previous orchestrator when this one starts.</summary>
    public bool ResumeOnStart { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Pools.Count == 0)
            yield return new ValidationResult("Orchestrator:Pools is empty: configure at least one denoiser pool, e.g. Orchestrator:Pools:large=http://localhost:5102.");
        foreach (var (name, address) in Pools)
            if (!Uri.TryCreate(address, UriKind.Absolute, out _))
                yield return new ValidationResult($"Orchestrator:Pools:{name} = '{address}' is not an absolute address such as http://host:port.");
    }
}
