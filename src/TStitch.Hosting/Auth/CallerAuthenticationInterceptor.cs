using Grpc.Core;
using Grpc.Core.Interceptors;
using Microsoft.Extensions.Logging;
using TStitch.Hosting.Errors;

namespace TStitch.Hosting.Auth;

/// <summary>
/// Refuses gRPC calls without an accepted credential (see <see cref="AcceptedCredentials"/>) with
/// UNAUTHENTICATED, through <see cref="ErrorTable"/>. A gRPC interceptor rather than ASP.NET Core's
/// authentication/authorization middleware: that pipeline answers a refused gRPC call with a bare
/// HTTP 401, which clients see as "Bad gRPC response. HTTP status code: 401" unless a custom result
/// handler writes gRPC trailers, and it needs an authentication handler, a fallback policy and
/// AllowAnonymous on the health and reflection endpoints; the interceptor is one check, answers a
/// real gRPC status with an actionable message, and covers every call type in one place.
/// The rejection is thrown as an RpcException (not a ServiceFailureException) so that it is mapped
/// the same way for the duplex reflection stream, which <see cref="ErrorMappingInterceptor"/> does not wrap.
/// </summary>
public sealed partial class CallerAuthenticationInterceptor(AcceptedCredentials accepted,
    ILogger<CallerAuthenticationInterceptor> logger) : Interceptor
{
    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, context);
    }

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, context);
    }

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(request, responseStream, context);
    }

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context,
        DuplexStreamingServerMethod<TRequest, TResponse> continuation)
    {
        Authenticate(context);
        return continuation(requestStream, responseStream, context);
    }

    private void Authenticate(ServerCallContext context)
    {
        if (accepted.Check(context.Method, context.RequestHeaders) is not { } reason) return;
        // Never the presented value: it may be a real key meant for another service.
        LogRejected(logger, context.Method, context.Peer, reason);
        throw new RpcException(new Status(ErrorTable.ToStatus(FailureKind.Unauthenticated), reason));
    }

    [LoggerMessage(Level = LogLevel.Information, Message = "{Method} from {Peer} refused: {Reason}")]
    private static partial void LogRejected(ILogger logger, string method, string peer, string reason);
}
