using StackExchange.Redis;
using TStitch.Hosting.Errors;
using TStitch.Orchestration;

namespace TStitch.Cluster.Tests;

/// <summary>The store contract on the fixture's Redis: the one-round-trip Lua scripts keep every promise of the in-memory store.</summary>
[Collection(ClusterCollection.Name)]
public class RedisJobStoreTests(ClusterFixture cluster) : JobStoreContract
{
    protected override IJobStore NewStore() => new RedisJobStore(cluster.RedisConnection, TimeSpan.FromHours(1), Clock);

    [Fact]
    public async Task A_user_that_may_not_run_scripts_makes_the_store_unavailable_naming_the_command()
    {
        string user = "noscript-" + Guid.NewGuid().ToString("N")[..8];
        await cluster.RedisConnection.GetDatabase().ExecuteAsync("ACL", "SETUSER", user, "on", ">pw", "~tstitch:*", "+@hash", "+@set",
            "+@keyspace", "+@string", "+@connection");
        try
        {
            await using var limited = await ConnectionMultiplexer.ConnectAsync($"{cluster.Redis},user={user},password=pw");
            var store = new RedisJobStore(limited, TimeSpan.FromHours(1), Clock);
            var ex = await Assert.ThrowsAsync<ServiceFailureException>(() =>
                store.CreateAsync(NewJob("contract-" + Guid.NewGuid().ToString("N"), "a", Clock.GetUtcNow().AddMinutes(1))));
            Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
            Assert.Contains("NOPERM", ex.Message);
            Assert.Contains("eval", ex.Message);
        }
        finally
        {
            await cluster.RedisConnection.GetDatabase().ExecuteAsync("ACL", "DELUSER", user);
        }
    }
}
