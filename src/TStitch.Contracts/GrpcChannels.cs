using Grpc.Net.Client;

namespace TStitch.Contracts;

/// <summary>
/// Channels for TStitch's tensor-sized messages. A latent batch is hundreds of KB; with HTTP/2's
/// default 64 KB stream window every such message waits for WINDOW_UPDATE round trips, so clients
/// open large windows (servers do the same in ServiceDefaults).
/// </summary>
public static class GrpcChannels
{
    public const int MaxMessageBytes = 64 * 1024 * 1024;
    public const int WindowBytes = 16 * 1024 * 1024;

    public static GrpcChannel Create(string address) => GrpcChannel.ForAddress(address, Options());

    /// <summary>The options <see cref="Create"/> uses, for callers that add balancing or retries.</summary>
    public static GrpcChannelOptions Options() => new()
    {
        MaxReceiveMessageSize = MaxMessageBytes,
        MaxSendMessageSize = MaxMessageBytes,
        HttpHandler = new SocketsHttpHandler
        {
            InitialHttp2StreamWindowSize = WindowBytes,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        },
    };
}
