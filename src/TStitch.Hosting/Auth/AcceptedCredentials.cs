using System.Security.Cryptography;
using System.Text;
using Grpc.Core;
using TStitch.Contracts;

namespace TStitch.Hosting.Auth;

/// <summary>
/// The secrets one service accepts, held only as SHA-256 hashes and compared in constant time: the
/// hashes have one length whatever the key's, so neither a key's content nor its length leaks
/// through timing, and every configured key is compared on every call (no early exit).
/// </summary>
public sealed class AcceptedCredentials
{
    private readonly byte[][] _hashes;
    private readonly AuthOptions _options;
    private readonly string _what;

    public AcceptedCredentials(AuthOptions options, CallerCredential credential)
    {
        _options = options;
        var secrets = credential == CallerCredential.ApiKey ? options.ApiKeys : [options.ServiceToken];
        _hashes = [.. secrets.Where(s => s.Length > 0).Select(Hash)];
        _what = credential == CallerCredential.ApiKey ? "an API key" : "the service token (Auth:ServiceToken)";
    }

    /// <summary>False: no secret configured, every call is let through (quick start).</summary>
    public bool Required => _hashes.Length > 0;

    /// <summary>Why the call must be refused (a message for the caller, naming no secret), or null to let it through.</summary>
    public string? Check(string method, Metadata headers)
    {
        if (!Required || IsOpen(method)) return null;
        var value = headers.GetValue(GrpcChannels.AuthorizationHeader);
        string prefix = GrpcChannels.BearerScheme + " ";
        if (string.IsNullOrEmpty(value))
            return $"This service requires {_what}: send the metadata header '{GrpcChannels.AuthorizationHeader}: {prefix}<key>'.";
        if (!value.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
            return $"The '{GrpcChannels.AuthorizationHeader}' header must be '{prefix}<key>'.";
        var presented = Hash(value[prefix.Length..].Trim());
        bool match = false;
        foreach (var hash in _hashes) match |= CryptographicOperations.FixedTimeEquals(presented, hash);
        return match ? null : $"The credential sent is not valid: this service requires {_what}.";
    }

    private bool IsOpen(string method) =>
        (_options.AllowAnonymousHealth && method.StartsWith("/grpc.health.v1.Health/", StringComparison.Ordinal)) ||
        (_options.AllowAnonymousReflection && method.StartsWith("/grpc.reflection.", StringComparison.Ordinal));

    private static byte[] Hash(string secret) => SHA256.HashData(Encoding.UTF8.GetBytes(secret));
}
