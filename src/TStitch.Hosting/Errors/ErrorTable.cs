using Grpc.Core;
using TStitch.Sampling;

namespace TStitch.Hosting.Errors;

/// <summary>
/// The one table between failure kinds and gRPC statuses, used by every server (through
/// <see cref="ErrorMappingInterceptor"/>) and by the orchestrator's pool client for the way back.
/// </summary>
public static class ErrorTable
{
    public static StatusCode ToStatus(FailureKind kind) => kind switch
    {
        FailureKind.None => StatusCode.OK,
        FailureKind.InvalidRequest => StatusCode.InvalidArgument,
        FailureKind.NotFound => StatusCode.NotFound,
        FailureKind.PoolUnavailable or FailureKind.ShuttingDown or FailureKind.Moved or FailureKind.StoreUnavailable =>
            StatusCode.Unavailable,
        FailureKind.Overloaded => StatusCode.ResourceExhausted,
        FailureKind.Cancelled or FailureKind.CallerLeft => StatusCode.Cancelled,
        FailureKind.DeadlineExceeded => StatusCode.DeadlineExceeded,
        FailureKind.Unauthenticated => StatusCode.Unauthenticated,
        _ => StatusCode.Internal,
    };

    /// <summary>What a status from a downstream service means for the caller (a pool's answer, seen by the orchestrator).</summary>
    public static FailureKind FromStatus(StatusCode status) => status switch
    {
        StatusCode.OK => FailureKind.None,
        StatusCode.InvalidArgument or StatusCode.FailedPrecondition or StatusCode.OutOfRange => FailureKind.InvalidRequest,
        StatusCode.NotFound => FailureKind.NotFound,
        StatusCode.Unavailable => FailureKind.PoolUnavailable,
        StatusCode.ResourceExhausted => FailureKind.Overloaded,
        StatusCode.Cancelled => FailureKind.Cancelled,
        StatusCode.DeadlineExceeded => FailureKind.DeadlineExceeded,
        StatusCode.Unauthenticated or StatusCode.PermissionDenied => FailureKind.Unauthenticated,
        _ => FailureKind.Internal,
    };

    /// <summary>The kind of an exception; anything not ours is <see cref="FailureKind.Internal"/> (a bug).</summary>
    public static FailureKind KindOf(Exception ex) => ex switch
    {
        ServiceFailureException f => f.Kind,
        InvalidRequestException => FailureKind.InvalidRequest,
        RpcException rpc => FromStatus(rpc.StatusCode),
        _ => FailureKind.Internal,
    };
}
