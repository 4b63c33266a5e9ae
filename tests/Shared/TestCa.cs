using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TStitch.Tests.Shared;

/// <summary>
/// A throwaway certificate authority (a root, or an intermediate of another) and the server certificates it issues: the
/// one certificate factory of the tests (linked source).
/// </summary>
public sealed class TestCa : IDisposable
{
    private readonly RSA _key = RSA.Create(2048);

    public TestCa(string name = "tstitch test CA", TestCa? issuer = null)
    {
        var request = new CertificateRequest($"CN={name}", _key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        var (from, until) = (DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        if (issuer is null) Certificate = request.CreateSelfSigned(from, until);
        else
        {
            using var issued = request.Create(issuer.Certificate, from, until.AddMinutes(-1), RandomNumberGenerator.GetBytes(8));
            Certificate = issued.CopyWithPrivateKey(_key);
        }
    }

    /// <summary>The CA's own certificate (with its key).</summary>
    public X509Certificate2 Certificate { get; }

    /// <summary>
    /// A server certificate for <paramref name="dnsName"/> (and any <paramref name="addresses"/>) signed by this CA, with
    /// its private key.
    /// </summary>
    public X509Certificate2 Issue(string dnsName, params IPAddress[] addresses)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest($"CN={dnsName}", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(dnsName);
        foreach (var address in addresses) names.AddIpAddress(address);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false)); // server auth
        using var issued = request.Create(Certificate, DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(12),
            RandomNumberGenerator.GetBytes(8));
        return issued.CopyWithPrivateKey(key);
    }

    public void Dispose()
    {
        Certificate.Dispose();
        _key.Dispose();
    }
}
