using System.Security.Cryptography.X509Certificates;
using Microsoft.Extensions.Configuration;
using TStitch.Contracts;

namespace TStitch.Hosting;

/// <summary>
/// The service's own TLS certificate, named by Kestrel's standard keys and read as Kestrel reads them
/// (Kestrel:Certificates:Default: Path and Password for a PFX; Path and KeyPath for a PEM or DER certificate, with
/// Password for an encrypted key). Kestrel loads it once, at start, for endpoints bound from Urls; <see cref="Current"/>
/// reads it again once its files change. So a renewed Kubernetes Secret (cert-manager replaces the mounted files) is
/// served without a restart. The health probe pins this certificate, and it keeps agreeing with the server.
/// </summary>
public sealed class ServerCertificate
{
    private const string Section = "Kestrel:Certificates:Default";
    private readonly string _path;
    private readonly string? _keyPath, _password;
    private readonly Lock _lock = new();
    private string _stamp;
    private X509Certificate2 _current;

    private ServerCertificate(string path, string? keyPath, string? password)
    {
        _path = path;
        _keyPath = string.IsNullOrEmpty(keyPath) ? null : keyPath;
        _password = string.IsNullOrEmpty(password) ? null : password;
        _stamp = Stamp();
        _current = Load();
    }

    /// <summary>
    /// The configured certificate, or null when the configuration names none (http, or a certificate configured elsewhere).
    /// </summary>
    public static ServerCertificate? FromConfiguration(IConfiguration configuration)
    {
        string? path = configuration[$"{Section}:Path"];
        return string.IsNullOrEmpty(path) ? null
            : new ServerCertificate(path, configuration[$"{Section}:KeyPath"], configuration[$"{Section}:Password"]);
    }

    /// <summary>
    /// The certificate as its files are now. Asked at each TLS handshake (HTTP/2 connections are long-lived, so
    /// handshakes are rare), it costs a look at the files' times and sizes. Files caught mid-write, or a new
    /// certificate beside the old key, keep the last certificate that loaded until the next handshake finds them whole.
    /// </summary>
    public X509Certificate2 Current
    {
        get
        {
            lock (_lock)
            {
                string stamp = Stamp();
                if (stamp == _stamp) return _current;
                try { _current = Load(); }
                catch (Exception ex) when (ex is IOException or InvalidDataException or System.Security.Cryptography.CryptographicException
                    or ArgumentException) { }
                _stamp = stamp;
                return _current;
            }
        }
    }

    private X509Certificate2 Load()
    {
        if (_keyPath is null) return X509CertificateLoader.LoadPkcs12FromFile(_path, _password);
        // The certificate file may be PEM or DER (as Kestrel accepts it); the key file is PEM.
        string certificatePem = CertificateTrust.Load(_path)[0].ExportCertificatePem(), keyPem = File.ReadAllText(_keyPath);
        var certificate = _password is null
            ? X509Certificate2.CreateFromPem(certificatePem, keyPem)
            : X509Certificate2.CreateFromEncryptedPem(certificatePem, keyPem, _password);
        // Windows' TLS stack cannot use the ephemeral key a PEM load gives; a PFX round trip persists it (Kestrel does the same).
        return OperatingSystem.IsWindows() ? X509CertificateLoader.LoadPkcs12(certificate.Export(X509ContentType.Pfx), null) : certificate;
    }

    private string Stamp() => string.Join('|', new[] { _path, _keyPath }.OfType<string>().Select(f =>
    {
        var file = new FileInfo(f);
        return file.Exists ? $"{file.LastWriteTimeUtc.Ticks}:{file.Length}" : "missing";
    }));
}
