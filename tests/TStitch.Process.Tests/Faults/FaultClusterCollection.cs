namespace TStitch.Process.Tests;

/// <summary>
/// A process cluster of its own for the fault tests: they kill its Redis, replicas and orchestrators and
/// empty its store, which must not disturb the shared cluster's tests (its metrics, its jobs). Run after
/// the parallel collections, so two clusters never compete for the machine's cores.
/// </summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class FaultClusterCollection : ICollectionFixture<ProcessCluster>
{
    public const string Name = "fault-cluster";
}
