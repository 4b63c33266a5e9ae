using Grpc.Net.Client;
using Spectre.Console;
using TStitch.Contracts;

namespace TStitch.Cli;

/// <summary>
/// The one way CLI commands call a running orchestrator: its address, the CA to trust for https://
/// (--ca-cert) and the API key sent on every call (--api-key / TSTITCH_API_KEY).
/// </summary>
internal static class OrchestratorConnection
{
    /// <summary>
    /// The channel (the caller disposes it) and a client sending the key; null, the reason printed, when the address or CA file is
    /// unusable.
    /// </summary>
    public static (GrpcChannel Channel, Orchestrator.OrchestratorClient Client)? Open(string address, string? caCertificate, string? apiKey)
    {
        GrpcChannel channel;
        try { channel = GrpcChannels.Create(address, caCertificate); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or InvalidDataException
            or System.Security.Cryptography.CryptographicException or UriFormatException or ArgumentException)
        {
            AnsiConsole.MarkupLine($"[red]{Markup.Escape(ex.Message)}[/]");
            return null;
        }
        return (channel, new Orchestrator.OrchestratorClient(GrpcChannels.WithBearerToken(channel, apiKey)));
    }
}
