using Microsoft.Extensions.Diagnostics.HealthChecks;
using StackExchange.Redis;

namespace TStitch.Orchestration;

/// <summary>NOT_SERVING while Redis is unreachable: an orchestrator without its job store cannot take jobs.</summary>
public sealed class JobStoreHealthCheck(IConnectionMultiplexer redis) : IHealthCheck
{
    public async Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        if (!redis.IsConnected) return HealthCheckResult.Unhealthy("job store (Redis) not connected");
        try
        {
            await redis.GetDatabase().PingAsync().WaitAsync(TimeSpan.FromSeconds(2), cancellationToken);
            return HealthCheckResult.Healthy();
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return HealthCheckResult.Unhealthy($"job store (Redis) unreachable: {ex.GetType().Name}");
        }
    }
}
