using TStitch.Orchestration;

namespace TStitch.Cluster.Tests;

/// <summary>The store contract on the fixture's Redis: the one-round-trip Lua scripts keep every promise of the in-memory store.</summary>
[Collection(ClusterCollection.Name)]
public class RedisJobStoreTests(ClusterFixture cluster) : JobStoreContract
{
    protected override IJobStore NewStore() => new RedisJobStore(cluster.RedisConnection, TimeSpan.FromHours(1), Clock);
}
