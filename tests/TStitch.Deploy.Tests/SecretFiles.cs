using System.Runtime.InteropServices;
using System.Security.Cryptography.X509Certificates;

namespace TStitch.Deploy.Tests;

/// <summary>
/// A temporary directory laid out as the kubelet mounts a kubernetes.io/tls Secret (cert-manager's): tls.crt, tls.key
/// and ca.crt are symbolic links through "..data", itself a link to a directory holding this version's files.
/// <see cref="Renew"/> writes a new certificate and key into a new directory and swaps "..data" in one rename, as the
/// kubelet does. With an intermediate CA, tls.crt holds the server's certificate and then the intermediate's, and
/// ca.crt the root.
/// </summary>
public sealed partial class SecretFiles : IDisposable
{
    private static readonly string[] Files = ["tls.crt", "tls.key", "ca.crt"];
    private readonly TestCa _root = new("tstitch test root CA");
    private readonly TestCa? _intermediate;
    private readonly string _dnsName;
    private string? _version;

    public SecretFiles(string dnsName, bool viaIntermediate = false)
    {
        _dnsName = dnsName;
        _intermediate = viaIntermediate ? new TestCa("tstitch test intermediate CA", _root) : null;
        Directory = System.IO.Directory.CreateTempSubdirectory("tstitch-tls-").FullName;
        Renew();
        foreach (var file in Files) File.CreateSymbolicLink(Path.Combine(Directory, file), Path.Combine("..data", file));
    }

    public string Directory { get; }
    public string CertificateFile => Path.Combine(Directory, "tls.crt");
    public string KeyFile => Path.Combine(Directory, "tls.key");
    public string CaFile => Path.Combine(Directory, "ca.crt");

    /// <summary>A new certificate and key for the same name, from the same CA, swapped in atomically.</summary>
    public void Renew()
    {
        var issuer = _intermediate ?? _root;
        using var certificate = issuer.Issue(_dnsName);
        string version = $"..{DateTime.UtcNow:yyyy_MM_dd_HH_mm_ss.fffffff}";
        var target = System.IO.Directory.CreateDirectory(Path.Combine(Directory, version)).FullName;
        File.WriteAllText(Path.Combine(target, "tls.crt"),
            certificate.ExportCertificatePem() + "\n" + (_intermediate?.Certificate.ExportCertificatePem() ?? ""));
        File.WriteAllText(Path.Combine(target, "tls.key"), certificate.GetRSAPrivateKey()!.ExportPkcs8PrivateKeyPem());
        File.WriteAllText(Path.Combine(target, "ca.crt"), _root.Certificate.ExportCertificatePem());
        string link = Path.Combine(Directory, "..data_tmp");
        System.IO.Directory.CreateSymbolicLink(link, version);
        if (rename(link, Path.Combine(Directory, "..data")) != 0)
            throw new IOException($"rename failed (errno {Marshal.GetLastPInvokeError()})");
        if (_version is not null) System.IO.Directory.Delete(Path.Combine(Directory, _version), recursive: true);
        _version = version;
    }

    public void Dispose()
    {
        System.IO.Directory.Delete(Directory, recursive: true);
        _intermediate?.Dispose();
        _root.Dispose();
    }

    // The kubelet swaps "..data" with rename(2), which replaces a link atomically; .NET's File.Move follows a link
    // to a directory, so the test calls it directly.
    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rename(string oldPath, string newPath);
}
