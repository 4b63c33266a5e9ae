using System.Net.Security;
using System.Security.Cryptography.X509Certificates;

namespace TStitch.Contracts;

/// <summary>
/// Trusting a given CA (or a self-signed server certificate) instead of the system roots, for TLS
/// between TStitch's own services and for the CLI. The server's name is still checked.
/// </summary>
public static class CertificateTrust
{
    /// <summary>Reads a PEM file (one or more certificates) or a DER certificate.</summary>
    public static X509Certificate2Collection Load(string path)
    {
        if (!File.Exists(path)) throw new FileNotFoundException($"CA certificate file '{path}' does not exist.", path);
        var certificates = new X509Certificate2Collection();
        if (File.ReadAllText(path).Contains("-----BEGIN CERTIFICATE-----", StringComparison.Ordinal))
            certificates.ImportFromPemFile(path);
        else
            certificates.Add(X509CertificateLoader.LoadCertificateFromFile(path));
        if (certificates.Count == 0) throw new InvalidDataException($"'{path}' holds no certificate.");
        return certificates;
    }

    /// <summary>
    /// Accepts a server certificate whose chain ends at one of <paramref name="roots"/> and whose name matches. The chain
    /// is always built again against those roots alone: the platform's verdict (no errors for a certificate from a CA in
    /// the system store) does not count, so a given CA is the only one trusted.
    /// </summary>
    public static RemoteCertificateValidationCallback Validator(X509Certificate2Collection roots) => (_, certificate, chain, errors) =>
    {
        // Only chain errors are ours to re-judge: a name mismatch or a missing certificate stays fatal.
        if (certificate is null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != 0) return false;
        using var custom = new X509Chain();
        custom.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        custom.ChainPolicy.CustomTrustStore.AddRange(roots);
        custom.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck; // private CAs rarely publish revocation lists
        if (chain is not null)
            foreach (var element in chain.ChainElements.Skip(1)) custom.ChainPolicy.ExtraStore.Add(element.Certificate);
        return custom.Build(certificate as X509Certificate2 ?? X509CertificateLoader.LoadCertificate(certificate.GetRawCertData()));
    };
}
