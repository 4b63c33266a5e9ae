using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Grpc.Core.Interceptors;
using Grpc.Net.Client;

namespace TStitch.Contracts;

/// <summary>
/// Channels for TStitch's tensor-sized messages. A latent batch is hundreds of KB; with HTTP/2's
/// default 64 KB stream window every such message waits for WINDOW_UPDATE round trips, so clients
/// open large windows (servers do the same in ServiceDefaults). Addresses may be http:// (cleartext
/// HTTP/2, the default) or https:// (HTTP/2 over TLS), optionally trusting only a given CA file.
/// </summary>
public static class GrpcChannels
{
    public const int MaxMessageBytes = 64 * 1024 * 1024;
    public const int WindowBytes = 16 * 1024 * 1024;

    /// <summary>The metadata header that carries an API key or service token, as "Bearer &lt;key&gt;".</summary>
    public const string AuthorizationHeader = "authorization";
    public const string BearerScheme = "Bearer";

    /// <param name="caCertificateFile">For https addresses: trust only this CA (or self-signed certificate), PEM or DER, instead of the
    /// system roots.</param>
    public static GrpcChannel Create(string address, string? caCertificateFile = null) =>
        GrpcChannel.ForAddress(address,
            Options(string.IsNullOrWhiteSpace(caCertificateFile) ? null : CertificateTrust.Load(caCertificateFile)));

    /// <summary>The options <see cref="Create"/> uses, for callers that add balancing or retries.</summary>
    public static GrpcChannelOptions Options(X509Certificate2Collection? trustedRoots = null)
    {
        var handler = new SocketsHttpHandler
        {
            InitialHttp2StreamWindowSize = WindowBytes,
            EnableMultipleHttp2Connections = true,
            PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(30),
        };
        if (trustedRoots is not null)
            handler.SslOptions.RemoteCertificateValidationCallback = CertificateTrust.Validator(trustedRoots);
        return new GrpcChannelOptions
        {
            MaxReceiveMessageSize = MaxMessageBytes,
            MaxSendMessageSize = MaxMessageBytes,
            HttpHandler = handler,
        };
    }

    /// <summary>
    /// Calls over <paramref name="channel"/> carrying "authorization: Bearer &lt;token&gt;" (none when the
    /// token is empty). A metadata interceptor rather than CallCredentials: gRPC refuses call
    /// credentials on cleartext channels, and inside a cluster the token may travel over h2c.
    /// </summary>
    public static CallInvoker WithBearerToken(GrpcChannel channel, string? token) =>
        string.IsNullOrEmpty(token) ? channel.CreateCallInvoker() : channel.Intercept(metadata =>
        {
            metadata.Add(AuthorizationHeader, $"{BearerScheme} {token}");
            return metadata;
        });
}
