using Microsoft.Extensions.Options;

namespace TStitch.Orchestration;

/// <summary>This orchestrator's name in job claims (jobs it runs carry it as their owner) and the length of its leases.</summary>
public sealed class OrchestratorInstance(IOptions<OrchestratorOptions> options, TimeProvider time)
{
    public string Id { get; } = $"{Environment.MachineName}-{Guid.NewGuid():N}";

    /// <summary>When a claim made now expires unless renewed.</summary>
    public DateTimeOffset LeaseEnd() => time.GetUtcNow() + options.Value.JobLease;
}
