using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TStitch.Denoising;

/// <summary>Reports the replica NOT_SERVING while it drains or its call queue or stage-run slots are nearly full.</summary>
public sealed class DenoiserHealthCheck(ReplicaHealth health, DynamicBatcher batcher) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            health.Draining ? HealthCheckResult.Unhealthy("draining")
            : batcher.Saturated ? HealthCheckResult.Unhealthy("batching queue or stage-run slots nearly full")
            : HealthCheckResult.Healthy());
}
