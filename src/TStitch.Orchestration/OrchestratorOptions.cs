using System.ComponentModel.DataAnnotations;

namespace TStitch.Orchestration;

/// <summary>Configuration section "Orchestrator".</summary>
public sealed class OrchestratorOptions : IValidatableObject
{
    public const string Section = "Orchestrator";

    /// <summary>
    /// Pool name -> its replicas: "http://small-denoiser:5101", a comma-separated list of such
    /// addresses, or "dns:///large-denoiser.ns.svc.cluster.local:5102" (see <see cref="PoolChannel"/>).
    /// </summary>
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

    /// <summary>Attempts per Denoise call (timeouts, Unavailable, ResourceExhausted), each possibly on another replica.</summary>
    [Range(1, 10)]
    public int RetryAttempts { get; set; } = 4;

    /// <summary>First retry backoff; it doubles per attempt.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromMilliseconds(50);

    /// <summary>How often dns:/// pools are re-resolved to pick up new or removed replicas.</summary>
    public TimeSpan DnsRefreshInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often replicas of address-list pools are health-checked.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Trajectories running at once; further jobs wait in the job store as `queued`.</summary>
    [Range(1, 10_000)]
    public int MaxRunningJobs { get; set; } = 32;

    /// <summary>
    /// How long an orchestrator's claim on a job holds without renewal (renewed every step and every
    /// third of this). Another orchestrator takes over a job only after its owner's lease has expired.
    /// </summary>
    public TimeSpan JobLease { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How a job's stages are run ("stage"); wired by the orchestrator's run-mode work.</summary>
    public string RunMode { get; set; } = "stage";

    /// <summary>Checkpoint a running job to the job store every this many steps.</summary>
    [Range(1, 1000)]
    public int CheckpointEvery { get; set; } = 10;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Pools.Count == 0)
            yield return new ValidationResult("Orchestrator:Pools is empty: configure at least one denoiser pool, e.g. Orchestrator:Pools:large=http://localhost:5102.");
        if (JobLease < TimeSpan.FromMilliseconds(300))
            yield return new ValidationResult($"Orchestrator:JobLease must be at least 0.3 s, got {JobLease}.");
        foreach (var (name, spec) in Pools)
            if (PoolChannel.Validate(name, spec) is { } error)
                yield return new ValidationResult(error);
    }
}
