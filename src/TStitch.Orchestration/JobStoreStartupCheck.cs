using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace TStitch.Orchestration;

/// <summary>
/// Tells two Redis problems apart at start-up. The orchestrator connects with abortConnect=false so it
/// can start while Redis is still coming up: an unreachable Redis is only logged (health answers
/// NOT_SERVING until it is back). Credentials Redis rejects (WRONGPASS, NOAUTH) and an ACL user that may
/// not run the store's commands (NOPERM) never fix themselves, so they stop the host with a message naming
/// the setting instead of serving UNAVAILABLE forever.
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
            try { await ProbeAsync(redis.GetDatabase()).WaitAsync(ProbeTimeout, cancellationToken); }
            catch (RedisServerException ex) when (RedisJobStore.IsAuthenticationError(ex)) { throw Rejected(ex.Message); }
            catch (RedisServerException ex) when (RedisJobStore.IsPermissionError(ex)) { throw Refused(ex.Message); }
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
            await ProbeAsync(connection.GetDatabase());
        }
        catch (RedisConnectionException ex) when (ex.FailureType == ConnectionFailureType.AuthenticationFailure)
        {
            throw Rejected(ex.InnerException?.Message ?? ex.FailureType.ToString());
        }
        catch (RedisServerException ex) when (RedisJobStore.IsAuthenticationError(ex)) { throw Rejected(ex.Message); }
        catch (RedisServerException ex) when (RedisJobStore.IsPermissionError(ex)) { throw Refused(ex.Message); }
        catch (Exception ex) when (ex is RedisException or TimeoutException) { LogUnreachable(logger, ex.GetType().Name); }
    }

    private static async Task ProbeAsync(IDatabase db)
    {
        await db.PingAsync();
        await RedisJobStore.ProbeAsync(db);
    }

    private InvalidOperationException Refused(string reason)
    {
        string first = reason.Split('\n')[0];
        LogRefused(logger, first);
        return new InvalidOperationException(
            $"Redis refused a command the job store needs ({first}): the user in Orchestrator:Redis needs " +
            $"\"{RedisJobStore.RequiredPermissions}\" (ACL SETUSER <user> {RedisJobStore.RequiredPermissions}).");
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

    [LoggerMessage(Level = LogLevel.Critical,
        Message = "Redis refused a command the job store needs with the user in Orchestrator:Redis ({Reason}); stopping")]
    private static partial void LogRefused(ILogger logger, string reason);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "The job store (Redis, Orchestrator:Redis) is not reachable yet ({Error}); serving NOT_SERVING until it is")]
    private static partial void LogUnreachable(ILogger logger, string error);
}
