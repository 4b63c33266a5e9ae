using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace TStitch.Tests.Shared;

/// <summary>
/// A server certificate for localhost / 127.0.0.1 / ::1 from a throwaway CA: the .pfx a service serves, and the CA's PEM
/// a client trusts. Shared by the cluster and process tests (linked source).
/// </summary>
public sealed record TestCertificate(string PfxFile, string Password, string CaFile)
{
    public static TestCertificate Create(string directory)
    {
        using var ca = new TestCa();
        using var certificate = ca.Issue("localhost", IPAddress.Loopback, IPAddress.IPv6Loopback);
        Directory.CreateDirectory(directory);
        string password = Convert.ToHexString(RandomNumberGenerator.GetBytes(8));
        var result = new TestCertificate(Path.Combine(directory, "server.pfx"), password, Path.Combine(directory, "ca.crt"));
        File.WriteAllBytes(result.PfxFile, certificate.Export(X509ContentType.Pfx, password));
        File.WriteAllText(result.CaFile, ca.Certificate.ExportCertificatePem());
        return result;
    }
}
