using Microsoft.Extensions.Hosting;

namespace TStitch.Denoising;

/// <summary>
/// A replica's own view of whether it should get traffic. It drains from the moment the host starts
/// stopping (SIGTERM, e.g. after a Kubernetes preStop hook) or when told to; draining and a nearly
/// full batching queue both report NOT_SERVING on the gRPC health service, so balancers move new
/// calls to other replicas while this one finishes (or hands back) what it has.
/// </summary>
public sealed class ReplicaHealth(IHostApplicationLifetime lifetime)
{
    private volatile bool _draining;

    public bool Draining
    {
        get => _draining || lifetime.ApplicationStopping.IsCancellationRequested;
        set => _draining = value;
    }
}
