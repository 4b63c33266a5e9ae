namespace TStitch.Hosting.Auth;

/// <summary>Which configured secret a service accepts from its callers.</summary>
public enum CallerCredential
{
    /// <summary>Any of Auth:ApiKeys (the orchestrator's public API).</summary>
    ApiKey,
    /// <summary>Auth:ServiceToken (denoisers: only the orchestrator may call them).</summary>
    ServiceToken,
}
