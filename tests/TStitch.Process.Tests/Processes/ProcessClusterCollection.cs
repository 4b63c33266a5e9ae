namespace TStitch.Process.Tests;

/// <summary>One <see cref="ProcessCluster"/> shared by every test class in the collection (started once).</summary>
[CollectionDefinition(Name)]
public sealed class ProcessClusterCollection : ICollectionFixture<ProcessCluster>
{
    public const string Name = "process-cluster";
}
