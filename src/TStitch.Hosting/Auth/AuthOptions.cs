using System.ComponentModel.DataAnnotations;

namespace TStitch.Hosting.Auth;

/// <summary>
/// Configuration section "Auth", validated at start. Everything is off by default (quick start);
/// the values come from a secret in production (env Auth__ApiKeys__0, Auth__ServiceToken).
/// Callers present a key as the metadata header "authorization: Bearer &lt;key&gt;".
/// </summary>
public sealed class AuthOptions : IValidatableObject
{
    public const string Section = "Auth";
    /// <summary>Shortest key or token accepted: short secrets are guessable.</summary>
    public const int MinSecretLength = 16;

    /// <summary>API keys the orchestrator accepts from its callers (any one of them). Empty: no key needed.</summary>
    public List<string> ApiKeys { get; set; } = [];

    /// <summary>
    /// Shared secret between the orchestrator and the denoisers: the orchestrator sends it on every pool
    /// call, and a denoiser with it set accepts only calls carrying it. Empty: denoisers are open.
    /// </summary>
    public string ServiceToken { get; set; } = "";

    /// <summary>grpc.health.v1.Health needs no credential (Kubernetes gRPC probes cannot send one).</summary>
    public bool AllowAnonymousHealth { get; set; } = true;

    /// <summary>gRPC server reflection (grpcurl's service listing) needs no credential.</summary>
    public bool AllowAnonymousReflection { get; set; } = true;

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        for (int i = 0; i < ApiKeys.Count; i++)
            if (Problem(ApiKeys[i]) is { } problem)
                yield return new ValidationResult($"Auth:ApiKeys:{i} {problem}");
        if (ServiceToken.Length > 0 && Problem(ServiceToken) is { } tokenProblem)
            yield return new ValidationResult($"Auth:ServiceToken {tokenProblem}");
    }

    // The message never quotes the secret, only what is wrong with it.
    private static string? Problem(string secret) =>
        secret.Length < MinSecretLength ? $"is {secret.Length} characters long; use at least {MinSecretLength} (e.g. `openssl rand -hex " +
            $"32`)."
        : secret.Any(c => c is <= ' ' or > '~') ? "may only hold printable ASCII without spaces (it travels in a gRPC metadata header)."
        : null;
}
