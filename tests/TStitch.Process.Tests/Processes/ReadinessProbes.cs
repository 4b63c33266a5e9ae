using System.Net.Sockets;
using System.Text;
using Grpc.Core;
using Grpc.Health.V1;
using Grpc.Net.Client;

namespace TStitch.Process.Tests;

/// <summary>"Is it ready?" checks for <see cref="ServiceProcess"/>. Each call is one bounded attempt.</summary>
public static class ReadinessProbes
{
    /// <summary>grpc.health.v1.Health/Check (overall service "") answers SERVING.
    /// A fresh channel per attempt, so a restarted process is seen as it is now.</summary>
    public static Func<CancellationToken, Task<bool>> GrpcHealth(string address, string? caFile = null) => async ct =>
    {
        using var channel = TStitch.Contracts.GrpcChannels.Create(address, caFile);
        try
        {
            var reply = await new Health.HealthClient(channel).CheckAsync(new HealthCheckRequest(), deadline: DateTime.UtcNow.AddSeconds(2),
                cancellationToken: ct);
            return reply.Status == HealthCheckResponse.Types.ServingStatus.Serving;
        }
        catch (RpcException)
        {
            return false;
        }
    };

    /// <summary>A Redis server on <paramref name="port"/> answers PING with +PONG.</summary>
    /// <param name="anyAnswer">Also count an error reply (NOAUTH: a password-protected server is up).</param>
    public static Func<CancellationToken, Task<bool>> RedisPing(int port, bool anyAnswer = false) => async ct =>
    {
        try
        {
            using var client = new TcpClient();
            await client.ConnectAsync("127.0.0.1", port, ct);
            var stream = client.GetStream();
            await stream.WriteAsync("PING\r\n"u8.ToArray(), ct);
            var buffer = new byte[64];
            int n = await stream.ReadAsync(buffer, ct);
            string reply = Encoding.ASCII.GetString(buffer, 0, n);
            return anyAnswer ? reply is ['+' or '-', ..] : reply.StartsWith("+PONG", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is SocketException or IOException)
        {
            return false;
        }
    };
}
