namespace TStitch.Deploy.Tests;

/// <summary>
/// A temporary directory holding tls.crt, tls.key and ca.crt as a mounted kubernetes.io/tls Secret (cert-manager's)
/// does: a certificate for one name from a throwaway CA. <see cref="Renew"/> replaces them as a renewal does.
/// </summary>
public sealed class SecretFiles : IDisposable
{
    private readonly TestCa _ca = new();
    private readonly string _dnsName;

    public SecretFiles(string dnsName)
    {
        _dnsName = dnsName;
        Directory = System.IO.Directory.CreateTempSubdirectory("tstitch-tls-").FullName;
        Renew();
    }

    public string Directory { get; }
    public string CertificateFile => Path.Combine(Directory, "tls.crt");
    public string KeyFile => Path.Combine(Directory, "tls.key");

    /// <summary>A new certificate and key for the same name, from the same CA.</summary>
    public void Renew() => _ca.WriteSecretFiles(Directory, _dnsName);

    public void Dispose()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        _ca.Dispose();
    }
}
