using System.ComponentModel.DataAnnotations;

namespace TStitch.Orchestration;

/// <summary>Configuration section "Orchestrator", validated at start.</summary>
public sealed class OrchestratorOptions : IValidatableObject
{
    public const string Section = "Orchestrator";

    /// <summary>
    /// Pool name -> its replicas: "http://small-denoiser:5101", a comma-separated list of such
    /// addresses, or "dns:///large-denoiser.ns.svc.cluster.local:5102" (see <see cref="PoolChannel"/>).
    /// </summary>
    public Dictionary<string, string> Pools { get; set; } = new();

    /// <summary>
    /// Call dns:/// pools over TLS (HTTP/2 over TLS; the replicas listen on https urls). Address-list
    /// pools choose by their scheme (http:// or https://).
    /// </summary>
    public bool PoolTls { get; set; }

    /// <summary>
    /// For TLS to the pools: a PEM or DER file with the CA (or the self-signed certificate) to trust
    /// instead of the system roots. Empty: the system's trusted roots.
    /// </summary>
    public string PoolCaCertificate { get; set; } = "";

    /// <summary>The pools a request's small_fraction (or no schedule at all) means: small first, then large.</summary>
    public string SmallPool { get; set; } = "small";
    public string LargePool { get; set; } = "large";

    /// <summary>The small fraction of a request that names no schedule.</summary>
    [Range(0.0, 1.0)]
    public double DefaultSmallFraction { get; set; } = 0.4;

    /// <summary>Stage runs inside the pools (default) or one Denoise call per step.</summary>
    public RunMode RunMode { get; set; } = RunMode.Stage;

    /// <summary>
    /// Steps between checkpoints inside a stage (stage boundaries are always checkpointed). A replica that
    /// dies costs at most this many steps again; each checkpoint costs a latent batch over the wire and a
    /// job-store write (docs/benchmarks.md measures the trade-off).
    /// </summary>
    [Range(1, 1000)]
    public int CheckpointEvery { get; set; } = 25;

    /// <summary>StackExchange.Redis configuration ("localhost:6379"). Empty: in-memory job store (quick start only).</summary>
    public string Redis { get; set; } = "";

    /// <summary>Most images one Generate request may ask for.</summary>
    [Range(1, 4096)]
    public int MaxImagesPerRequest { get; set; } = 64;

    /// <summary>
    /// How long a running job keeps going while the job store is unreachable (checkpoints skipped, the
    /// final write retried). Past it the job ends as failed, and a resubmit resumes it from its last checkpoint.
    /// </summary>
    public TimeSpan StoreOutageTolerance { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>How long finished jobs (and their results) stay in the job store.</summary>
    public TimeSpan FinishedJobTtl { get; set; } = TimeSpan.FromHours(24);

    /// <summary>
    /// Longest a pool may take for one step: the deadline of a Denoise call, and the longest a stage run
    /// may go without sending an event. Past it the attempt counts as failed and is retried.
    /// </summary>
    public TimeSpan StepTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Attempts per pool call (see <see cref="PoolRetry"/>), each possibly on another replica.</summary>
    [Range(1, 10)]
    public int RetryAttempts { get; set; } = 6;

    /// <summary>Wait before the first retry; it doubles per attempt up to <see cref="RetryMaxBackoff"/>.</summary>
    public TimeSpan RetryBackoff { get; set; } = TimeSpan.FromMilliseconds(50);
    public TimeSpan RetryMaxBackoff { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>How often dns:/// pools are re-resolved to pick up new or removed replicas.</summary>
    public TimeSpan DnsRefreshInterval { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>How often replicas of address-list pools are health-checked.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Trajectories running at once; further jobs wait in the job store as `queued`.</summary>
    [Range(1, 10_000)]
    public int MaxRunningJobs { get; set; } = 32;

    /// <summary>
    /// How long an orchestrator's claim on a job holds without renewal (renewed every third of this).
    /// Another orchestrator takes over a job only after its owner's lease has expired.
    /// </summary>
    public TimeSpan JobLease { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>
    /// Text-encoder manifest (kind "text-encoder": CLIP ONNX + vocab.json + merges.txt, tools/export) of the
    /// text family the pools serve; prompts are tokenized and encoded with it once per job. Empty: class
    /// families only, and requests with prompts are refused.
    /// </summary>
    public string TextEncoder { get; set; } = "";

    /// <summary>
    /// Frontier profiles (`tstitch sweep --profile`): files or folders of *.json. They let requests ask for
    /// a tier or a latency budget instead of a schedule; each is validated at start.
    /// </summary>
    public List<string> Profiles { get; set; } = [];

    /// <summary>
    /// Load-adaptive mode: when set (> 0), new jobs that left the schedule to the orchestrator are moved
    /// along the frontier towards speed while the estimated latency of a new job exceeds this.
    /// </summary>
    public TimeSpan LatencyTarget { get; set; } = TimeSpan.Zero;

    /// <summary>The furthest load-adaptive mode may go: the largest share of steps off the large pool.</summary>
    [Range(0.0, 1.0)]
    public double WorstSchedule { get; set; } = 0.5;

    /// <summary>How often the load controller re-evaluates (one frontier point per step at most).</summary>
    public TimeSpan ControlInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Images of the reference job whose latency the load controller estimates.</summary>
    [Range(1, 4096)]
    public int ControlReferenceImages { get; set; } = 4;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (Pools.Count == 0)
            yield return new ValidationResult("Orchestrator:Pools is empty: configure at least one denoiser pool, e.g. " +
                "Orchestrator:Pools:large=http://localhost:5102.");
        if (JobLease < TimeSpan.FromMilliseconds(300))
            yield return new ValidationResult($"Orchestrator:JobLease must be at least 0.3 s, got {JobLease}.");
        if (StepTimeout <= TimeSpan.Zero)
            yield return new ValidationResult($"Orchestrator:StepTimeout must be positive, got {StepTimeout}.");
        if (RetryBackoff < TimeSpan.Zero || RetryMaxBackoff < RetryBackoff)
            yield return new ValidationResult($"Orchestrator:RetryBackoff ({RetryBackoff}) must be >= 0 and <= RetryMaxBackoff " +
                $"({RetryMaxBackoff}).");
        if (TextEncoder.Length > 0 && !File.Exists(TextEncoder))
            yield return new ValidationResult($"Orchestrator:TextEncoder: text-encoder manifest '{TextEncoder}' does not exist.");
        if (PoolCaCertificate.Length > 0 && !File.Exists(PoolCaCertificate))
            yield return new ValidationResult($"Orchestrator:PoolCaCertificate: file '{PoolCaCertificate}' does not exist.");
        foreach (var (name, spec) in Pools)
            if (PoolChannel.Validate(name, spec, PoolTls) is { } error)
                yield return new ValidationResult(error);
        if (LatencyTarget < TimeSpan.Zero)
            yield return new ValidationResult(
                $"Orchestrator:LatencyTarget must be >= 0 (0 = load-adaptive mode off), got {LatencyTarget}.");
        if (LatencyTarget > TimeSpan.Zero && Profiles.Count == 0)
            yield return new ValidationResult("Orchestrator:LatencyTarget needs a frontier profile to move along: set " +
                "Orchestrator:Profiles (written by `tstitch sweep --profile`).");
        if (ControlInterval <= TimeSpan.Zero)
            yield return new ValidationResult($"Orchestrator:ControlInterval must be positive, got {ControlInterval}.");
        foreach (var problem in Frontier.FrontierProfiles.Check(Profiles, Pools.Keys))
            yield return new ValidationResult(problem);
    }
}
