using System.Net;
using System.Net.Sockets;

namespace TStitch.Process.Tests;

public static class LoopbackPorts
{
    /// <summary>A free loopback port: bind port 0, read what the OS chose, release it.</summary>
    public static int Free()
    {
        using var socket = new TcpListener(IPAddress.Loopback, 0);
        socket.Start();
        int port = ((IPEndPoint)socket.LocalEndpoint).Port;
        socket.Stop();
        return port;
    }

    public static string Http(int port) => $"http://127.0.0.1:{port}";
}
