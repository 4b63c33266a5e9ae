using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Net.Client;
using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>
/// How the orchestrator talks to its pools, for the pool channels and the replicas' health checks
/// alike: TLS trust (Orchestrator:PoolCaCertificate, else the system roots) and the service token
/// (Auth:ServiceToken) sent on every call.
/// </summary>
public sealed class PoolTransport(X509Certificate2Collection? trustedRoots, string serviceToken)
{
    public static PoolTransport From(OrchestratorOptions options, string serviceToken) =>
        new(options.PoolCaCertificate.Length > 0 ? CertificateTrust.Load(options.PoolCaCertificate) : null, serviceToken);

    /// <summary>Channel options with the tensor-sized limits and windows, and the TLS trust.</summary>
    public GrpcChannelOptions ChannelOptions() => GrpcChannels.Options(trustedRoots);

    /// <summary>Calls over <paramref name="channel"/> carrying the service token (if one is configured).</summary>
    public CallInvoker Invoker(GrpcChannel channel) => GrpcChannels.WithBearerToken(channel, serviceToken);
}
