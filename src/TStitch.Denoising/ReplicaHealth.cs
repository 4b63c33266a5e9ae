using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace TStitch.Denoising;

/// <summary>
/// A replica's own view of whether it should get traffic. Draining (a switch for whoever hosts the
/// replica: a preStop hook or an admin endpoint, not wired to anything yet) and a nearly full
/// batching queue both report NOT_SERVING on the gRPC health service, so balancers move calls to
/// other replicas until it recovers.
/// </summary>
public sealed class ReplicaHealth
{
    public bool Draining { get; set; }
}

public sealed class DenoiserHealthCheck(ReplicaHealth health, DynamicBatcher batcher) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default) =>
        Task.FromResult(
            health.Draining ? HealthCheckResult.Unhealthy("draining")
            : batcher.Saturated ? HealthCheckResult.Unhealthy("batching queue nearly full")
            : HealthCheckResult.Healthy());
}
