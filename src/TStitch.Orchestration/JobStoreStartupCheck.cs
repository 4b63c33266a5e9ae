using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace TStitch.Orchestration;

/// <summary>
/// Tells two Redis problems apart at start-up. The orchestrator connects with abortConnect=false so it
/// can start while Redis is still coming up: an unreachable Redis is only logged (health answers
/// NOT_SERVING until it is back). Credentials Redis rejects (WRONGPASS, NOAUTH) never fix themselves,
/// so they stop the host with a message naming the setting instead of serving UNAVAILABLE forever.
/// </summary>
public sealed partial class JobStoreStartupCheck(IConnectionMultiplexer redis, ConfigurationOptions config,
    ILogger<JobStoreStartupCheck> logger)
    : IHostedService
{
    private static readonly TimeSpan ProbeTimeout = TimeSpan.FromSeconds(5);

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (redis.IsConnected)
        {
            // Connected without a password to a Redis that wants one: the handshake passes, commands answer NOAUTH.
            try { await redis.GetDatabase().PingAsync().WaitAsync(ProbeTimeout, cancellationToken); }
            catch (RedisServerException ex) when (RedisJobStore.IsAuthenticationError(ex)) { throw Rejected(ex.Message); }
            catch (Exception ex) when (ex is RedisException or TimeoutException) { LogUnreachable(logger, ex.GetType().Name); }
            return;
        }
        // Not connected: a probe connection that does abort says why (the shared one only retries).
        var probe = config.Clone();
        probe.AbortOnConnectFail = true;
        probe.ConnectRetry = 1;
        probe.ConnectTimeout = (int)ProbeTimeout.TotalMilliseconds;
        try
        {
            await using var connection = await ConnectionMultiplexer.ConnectAsync(probe);
            await connection.GetDatabase().PingAsync();
        }
        catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            throw Rejected(ex.InnerException?.Message ?? ex.FailureType.ToString());
        }
        catch (RedisServerException ex) when (RedisJobStore.IsAuthenticationError(ex)) { throw Rejected(ex.Message); }
        catch (Exception ex) when (ex is RedisException or TimeoutException) { LogUnreachable(logger, ex.GetType().Name); }
    }

    private InvalidOperationException Rejected(string reason)
    {
        // The server's reason (e.g. "WRONGPASS invalid username-password pair") never contains the password.
        string first = reason.Split('\n')[0];
        LogRejected(logger, first);
        return new InvalidOperationException(
            $"Redis rejected the orchestrator's credentials ({first}): check the password/user in Orchestrator:Redis " +
            "(e.g. \"redis:6379,password=...\" or the Orchestrator__Redis environment variable).");
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    [LoggerMessage(Level = LogLevel.Critical, Message = "Redis rejected the credentials in Orchestrator:Redis ({Reason}); stopping")]
    private static partial void LogRejected(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The job store (Redis, Orchestrator:Redis) is not reachable yet ({Error}); serving NOT_SERVING until it is")]
    private static partial void LogUnreachable(ILogger logger, string error);
}
