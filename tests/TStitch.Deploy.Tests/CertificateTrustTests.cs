using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using TStitch.Contracts;

namespace TStitch.Deploy.Tests;

/// <summary>
/// A given CA file (Orchestrator:PoolCaCertificate, the CLI's --ca-cert) is the only trust: a certificate the platform
/// accepts (one from a CA in the system store reaches the callback with no errors) is refused unless that CA issued
/// it, and a certificate the CA issued for another name is refused.
/// </summary>
public sealed class CertificateTrustTests
{
    private const string Name = "large-denoiser.tstitch.svc.cluster.local";

    [Fact]
    public void A_given_ca_is_the_only_trust_even_for_a_certificate_the_platform_accepts()
    {
        using var trusted = new TestCa("trusted CA");
        using var other = new TestCa("another CA");
        using var ours = trusted.Issue(Name);
        using var theirs = other.Issue(Name);
        var validate = CertificateTrust.Validator(new X509Certificate2Collection(trusted.Certificate));

        // How the platform reports them: a private CA's certificate as a chain error, one whose chain reaches a root in
        // the system store as no error at all.
        Assert.True(validate(this, ours, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.True(validate(this, ours, null, SslPolicyErrors.None));
        Assert.False(validate(this, theirs, null, SslPolicyErrors.None));
        Assert.False(validate(this, theirs, null, SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(validate(this, ours, null,
            SslPolicyErrors.RemoteCertificateNameMismatch | SslPolicyErrors.RemoteCertificateChainErrors));
        Assert.False(validate(this, null, null, SslPolicyErrors.RemoteCertificateNotAvailable));
    }
}
