using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TStitch.Tests.Shared;

/// <summary>
/// A self-signed server certificate for localhost / 127.0.0.1 / ::1: the .pfx a service serves, and the PEM a client
/// trusts. Shared by the cluster and process tests (linked source).
/// </summary>
public sealed record TestCertificate(string PfxFile, string Password, string CaFile)
{
    public static TestCertificate Create(string directory)
    {
        using var key = RSA.Create(2048);
        var request = new CertificateRequest("CN=localhost", key, HashAlgorithmName.SHA256, RSASignaturePadding.Pkcs1);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        names.AddIpAddress(System.Net.IPAddress.IPv6Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyEncipherment | X509KeyUsageFlags.KeyCertSign, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        using var certificate = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-5), DateTimeOffset.UtcNow.AddDays(1));
        Directory.CreateDirectory(directory);
        string password = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var result = new TestCertificate(Path.Combine(directory, "server.pfx"), password, Path.Combine(directory, "ca.crt"));
        File.WriteAllBytes(result.PfxFile, certificate.Export(X509ContentType.Pfx, password));
        File.WriteAllText(result.CaFile, certificate.ExportCertificatePem());
        return result;
    }
}
