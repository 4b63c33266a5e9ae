using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.Logging;
using TStitch.Contracts;

namespace TStitch.Hosting;

/// <summary>
/// The service's own TLS certificate, named by Kestrel's standard keys and read as Kestrel reads them
/// (Kestrel:Certificates:Default: Path and Password for a PFX; Path and KeyPath for a PEM or DER certificate, with
/// Password for an encrypted key), with the intermediate certificates the file holds after the server's own.
/// Kestrel loads it once, at start, for endpoints bound from Urls; <see cref="Context"/> reads it again once its files
/// change. So a renewed Kubernetes Secret (cert-manager writes new files, the kubelet swaps a symbolic link to them)
/// is served without a restart. The health probe pins <see cref="Certificate"/>, and it keeps agreeing with the server.
/// </summary>
public sealed partial class ServerCertificate
{
    private const string Section = "Kestrel:Certificates:Default";
    private readonly string _path;
    private readonly string? _keyPath, _password;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private string _stamp;
    private (X509Certificate2 Certificate, SslStreamCertificateContext Context) _current;

    private ServerCertificate(string path, string? keyPath, string? password, ILogger logger)
    {
        _path = path;
        _keyPath = string.IsNullOrEmpty(keyPath) ? null : keyPath;
        _password = string.IsNullOrEmpty(password) ? null : password;
        _logger = logger;
        _stamp = Stamp();
        _current = Load();
    }

    /// <summary>
    /// The configured certificate, or null when the configuration names none (http, or a certificate configured
    /// elsewhere). A failed reload is logged to <paramref name="logger"/>; the last certificate that loaded stays.
    /// </summary>
    public static ServerCertificate? FromConfiguration(IConfiguration configuration, ILogger? logger = null)
    {
        string? path = configuration[$"{Section}:Path"];
        return string.IsNullOrEmpty(path) ? null
            : new ServerCertificate(path, configuration[$"{Section}:KeyPath"], configuration[$"{Section}:Password"],
                logger ?? Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
    }

    /// <summary>The server's certificate as its files are now (see <see cref="Context"/>).</summary>
    public X509Certificate2 Certificate => Refreshed().Certificate;

    /// <summary>
    /// The certificate and its intermediates as a TLS handshake sends them, as the files are now. Asked at each
    /// handshake (HTTP/2 connections are long-lived, so handshakes are rare), it costs a look at the files' times and
    /// sizes. Files caught mid-write, or a new certificate beside the old key, keep the last certificate that loaded
    /// until the next handshake finds them whole.
    /// </summary>
    public SslStreamCertificateContext Context => Refreshed().Context;

    private (X509Certificate2 Certificate, SslStreamCertificateContext Context) Refreshed()
    {
        lock (_lock)
        {
            string stamp = Stamp();
            if (stamp == _stamp) return _current;
            try
            {
                _current = Load();
                LogReloaded(_logger, _path, _current.Certificate.Subject, _current.Certificate.NotAfter);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                LogReloadFailed(_logger, ex, _path);
            }
            _stamp = stamp;
            return _current;
        }
    }

    private (X509Certificate2, SslStreamCertificateContext) Load()
    {
        X509Certificate2 certificate;
        X509Certificate2[] intermediates;
        if (_keyPath is null)
        {
            var all = X509CertificateLoader.LoadPkcs12CollectionFromFile(_path, _password);
            certificate = all.First(c => c.HasPrivateKey);
            intermediates = [.. all.Where(c => !ReferenceEquals(c, certificate))];
        }
        else
        {
            // The certificate file may be PEM (the server's certificate, then its intermediates) or DER, as Kestrel
            // accepts it; the key file is PEM.
            var file = CertificateTrust.Load(_path);
            string certificatePem = file[0].ExportCertificatePem(), keyPem = File.ReadAllText(_keyPath);
            certificate = _password is null
                ? X509Certificate2.CreateFromPem(certificatePem, keyPem)
                : X509Certificate2.CreateFromEncryptedPem(certificatePem, keyPem, _password);
            // Windows' TLS stack cannot use the ephemeral key a PEM load gives; a PFX round trip persists it (as Kestrel does).
            if (OperatingSystem.IsWindows()) certificate = X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null);
            intermediates = [.. file.Skip(1)];
        }
        return (certificate, SslStreamCertificateContext.Create(certificate, new X509Certificate2Collection(intermediates), offline: true));
    }

    /// <summary>
    /// When and how long the files are, read through an open handle: a Kubernetes Secret's file is a symbolic link
    /// whose own times never change (a renewal swaps the directory link it points through).
    /// </summary>
    private string Stamp() => string.Join('|', new[] { _path, _keyPath }.OfType<string>().Select(file =>
    {
        try
        {
            using var handle = File.OpenHandle(file);
            return $"{File.GetLastWriteTimeUtc(handle).Ticks}:{RandomAccess.GetLength(handle)}";
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return "unreadable";
        }
    }));

    [LoggerMessage(Level = LogLevel.Information, Message = "TLS certificate {Path} reloaded: {Subject}, valid until {NotAfter:u}")]
    private static partial void LogReloaded(ILogger logger, string path, string subject, DateTime notAfter);

    [LoggerMessage(Level = LogLevel.Warning,
        Message = "TLS certificate {Path} changed but could not be loaded; the previous certificate is still served")]
    private static partial void LogReloadFailed(ILogger logger, Exception exception, string path);
}
