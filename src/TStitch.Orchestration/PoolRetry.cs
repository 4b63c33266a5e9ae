using Grpc.Core;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// The one retry mechanism for calls to a pool (Denoise, stage runs, model lookups): up to
/// <see cref="OrchestratorOptions.RetryAttempts"/> attempts with exponential backoff (doubling from
/// <see cref="OrchestratorOptions.RetryBackoff"/> up to <see cref="OrchestratorOptions.RetryMaxBackoff"/>).
/// Each attempt is a new call, so round robin puts it on the next ready replica. Retried: calls that
/// never got an answer (Unavailable, a broken stream, a replica's shutdown, a stall past the step
/// timeout) and a full queue (ResourceExhausted). Denoise is a pure function and a stage run resumes
/// from its last checkpoint, so sending either again is safe.
/// </summary>
public sealed class PoolRetry(OrchestratorOptions options)
{
    public int Attempts => options.RetryAttempts;

    public static bool IsRetryable(StatusCode code) =>
        code is StatusCode.Unavailable or StatusCode.ResourceExhausted or StatusCode.DeadlineExceeded
            or StatusCode.Internal or StatusCode.Cancelled or StatusCode.Unknown;

    /// <summary>The wait before attempt <paramref name="attempt"/> + 1.</summary>
    public TimeSpan Backoff(int attempt)
    {
        double factor = Math.Pow(2, Math.Max(0, attempt - 1));
        var wait = TimeSpan.FromTicks((long)Math.Min(options.RetryBackoff.Ticks * factor, options.RetryMaxBackoff.Ticks));
        return wait;
    }

    /// <summary>
    /// One unary call to a pool with this policy: retried while retryable and attempts remain; the
    /// caller's cancellation is a cancellation; the last failure names the pool and its address.
    /// </summary>
    public async Task<T> CallAsync<T>(string pool, string address, Func<Task<T>> call, CancellationToken cancellationToken)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await call();
            }
            catch (RpcException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (RpcException ex) when (IsRetryable(ex.StatusCode) && attempt < Attempts)
            {
                await Task.Delay(Backoff(attempt), cancellationToken);
            }
            catch (RpcException ex)
            {
                throw Failure(pool, address, ex.StatusCode, ex.Status.Detail, ex);
            }
        }
    }

    /// <summary>What a pool's last answer means for the job, naming the pool and where it is.</summary>
    public static ServiceFailureException Failure(string pool, string address, StatusCode code, string detail, Exception? inner = null)
    {
        // A pool refusing the orchestrator's own credentials is the deployment's fault, not the caller's: unavailable to
        // the caller (the job resumes once the token is fixed), never the caller's UNAUTHENTICATED.
        bool refused = code is StatusCode.Unauthenticated or StatusCode.PermissionDenied;
        var kind = code switch
        {
            StatusCode.ResourceExhausted => FailureKind.Overloaded,
            StatusCode.Unavailable or StatusCode.DeadlineExceeded or StatusCode.Cancelled or StatusCode.Unknown =>
                FailureKind.PoolUnavailable,
            _ when refused => FailureKind.PoolUnavailable,
            _ => ErrorTable.FromStatus(code),
        };
        string what = refused ? "refused the orchestrator's credentials (Auth:ServiceToken must be the same on both)"
            : kind == FailureKind.PoolUnavailable ? "is unavailable" : "failed";
        return new ServiceFailureException(kind, $"Denoiser pool '{pool}' at {address} {what} ({code}: {detail}).", inner);
    }
}
