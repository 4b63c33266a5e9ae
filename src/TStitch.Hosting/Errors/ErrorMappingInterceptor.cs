using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;

namespace TStitch.Hosting.Errors;

/// <summary>
/// Every server's exceptions become gRPC statuses here, through <see cref="ErrorTable"/>: the project's
/// own failures with their kind's status and message; the caller's cancellation or deadline as such;
/// a cancellation the caller did not ask for (the service is stopping) as Unavailable, so clients
/// retry elsewhere; any other exception (a bug) as Internal, logged with its stack and not shown to
/// the caller.
/// </summary>
public sealed partial class ErrorMappingInterceptor(ILogger<ErrorMappingInterceptor> logger) : Interceptor
{
    /// <summary>Details never echo more than this of a message (it may quote the caller's input).</summary>
    public const int MaxDetailLength = 512;

    public override async Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        try { return await continuation(request, context); }
        catch (Exception ex) when (ex is not RpcException) { throw Map(ex, context); }
    }

    public override async Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request,
        IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        try { await continuation(request, responseStream, context); }
        catch (Exception ex) when (ex is not RpcException) { throw Map(ex, context); }
    }

    private RpcException Map(Exception ex, ServerCallContext context)
    {
        var kind = ex switch
        {
            OperationCanceledException when context.CancellationToken.IsCancellationRequested =>
                context.Deadline <= DateTime.UtcNow ? FailureKind.DeadlineExceeded : FailureKind.Cancelled,
            OperationCanceledException => FailureKind.ShuttingDown,
            _ => ErrorTable.KindOf(ex),
        };
        string detail;
        if (kind == FailureKind.Internal && ex is not ServiceFailureException)
        {
            LogUnexpected(logger, ex, context.Method);
            detail = $"Internal error in {context.Method}; the service log has the details.";
        }
        else
        {
            detail = kind == FailureKind.ShuttingDown && ex is OperationCanceledException
                ? "The service is shutting down; retry."
                : Truncate(ex.Message);
            LogFailure(logger, context.Method, kind, detail);
        }
        return new RpcException(new Status(ErrorTable.ToStatus(kind), detail));
    }

    /// <summary>
    /// At most <see cref="MaxDetailLength"/> characters of <paramref name="message"/>, with control
    /// characters shown as '?' (line breaks and tabs as spaces): a message quoting the caller's input (a pool name, a sampler) can then
    /// carry neither megabytes nor terminal escapes into the status detail or the log.
    /// </summary>
    public static string Truncate(string message)
    {
        var shown = message.Length <= MaxDetailLength ? message : string.Concat(message.AsSpan(0, MaxDetailLength), "...");
        return shown.Any(char.IsControl) ? string.Create(shown.Length, shown, (span, s) =>
        {
            for (int i = 0; i < s.Length; i++) span[i] = s[i] is '\n' or '\r' or '\t' ? ' ' : char.IsControl(s[i]) ? '?' : s[i];
        }) : shown;
    }

    [LoggerMessage(Level = LogLevel.Error, Message = "{Method} failed unexpectedly")]
    private static partial void LogUnexpected(ILogger logger, Exception exception, string method);

    [LoggerMessage(Level = LogLevel.Debug, Message = "{Method}: {Kind}: {Detail}")]
    private static partial void LogFailure(ILogger logger, string method, FailureKind kind, string detail);
}
