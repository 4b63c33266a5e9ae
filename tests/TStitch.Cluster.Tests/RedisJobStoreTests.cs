using StackExchange.Redis;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Orchestration;

namespace TStitch.Cluster.Tests;

/// <summary>
/// The store contract on the fixture's Redis (the one-round-trip Lua scripts keep every promise of the in-memory store), and the
/// layout behind it: a job's tensors in one data key per write, swapped in by the script.
/// </summary>
[Collection(ClusterCollection.Name)]
public class RedisJobStoreTests(ClusterFixture cluster) : JobStoreContract, IAsyncLifetime
{
    protected override IJobStore NewStore() => new RedisJobStore(cluster.RedisConnection, TimeSpan.FromHours(1), Clock);

    public Task InitializeAsync() => Task.CompletedTask;

    /// <summary>
    /// The contract's jobs are valid two-stage jobs whose leases, on the fake clock, ran out long ago in real time: left in
    /// the unfinished set, the next orchestrator this fixture starts would take them over and run them beside its own
    /// test's job, on the same replicas. Each test's jobs go with it.
    /// </summary>
    public async Task DisposeAsync()
    {
        var db = cluster.RedisConnection.GetDatabase();
        var ours = (await db.SetMembersAsync("tstitch:jobs:unfinished")).Where(id => id.StartsWith("contract-")).ToArray();
        if (ours.Length > 0) await db.SetRemoveAsync("tstitch:jobs:unfinished", ours);
        var keys = cluster.RedisConnection.GetServers()[0].Keys(pattern: "tstitch:job:contract-*").ToArray();
        if (keys.Length > 0) await db.KeyDeleteAsync(keys);
    }

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

    [Fact]
    public async Task A_job_keeps_one_data_key_a_refused_write_leaves_none_and_finished_data_expires_with_the_job()
    {
        var (store, db, id, job) = await CreatedJobAsync();
        Assert.Empty(DataKeys(id));
        for (int step = 1; step <= 3; step++)
            Assert.True(await store.SaveAsync(job with { Status = JobStatus.Running, Step = step,
                CheckpointStep = step, Latents = [step, -step] }));
        var keys = DataKeys(id);
        Assert.Single(keys);
        Assert.Equal(-1, (long)await db.ExecuteAsync("PTTL", keys[0])); // a running job's data does not expire

        // Another owner's write is refused and takes its data with it; the job's data is the owner's last.
        Assert.False(await store.SaveAsync(job with { Owner = "b", Step = 9, CheckpointStep = 9, Latents = [9f, 9f] }));
        Assert.Equal(keys, DataKeys(id));
        Assert.False((await store.CreateAsync(job with { Latents = [9f, 9f] })).Created); // so is a create of an existing job
        Assert.Equal(keys, DataKeys(id));
        Assert.Equal(new[] { 3f, -3f }, (await store.GetAsync(id))!.Latents);

        // A write without tensors drops the old data.
        Assert.True(await store.SaveAsync(job with { Status = JobStatus.Running, Step = 4 }));
        Assert.Empty(DataKeys(id));
        Assert.Null((await store.GetAsync(id))!.Latents);

        Assert.True(await store.SaveAsync(job.Finish(JobStatus.Succeeded, FailureKind.None, "", Clock.GetUtcNow()) with
        {
            Samples = [1f, 2f], Png = [137, 80],
        }));
        keys = DataKeys(id);
        Assert.Single(keys);
        long dataTtl = (long)await db.ExecuteAsync("PTTL", keys[0]), jobTtl = (long)await db.ExecuteAsync("PTTL", "tstitch:job:" + id);
        Assert.InRange(dataTtl, jobTtl - 5000, jobTtl + 5000); // expires with the job (the store's TTL, an hour here)
        Assert.InRange(jobTtl, 1, (long)TimeSpan.FromHours(1).TotalMilliseconds);
        var read = (await store.GetAsync(id))!;
        Assert.Equal([1f, 2f], read.Samples!);
        Assert.Equal([137, 80], read.Png);
    }

    [Fact]
    public async Task A_record_written_before_data_keys_reads_its_tensors_from_the_hash_until_it_is_saved_again()
    {
        var (store, db, id, job) = await CreatedJobAsync();
        // The layout of earlier versions: tensors as fields of the job's hash, no data pointer.
        await db.HashDeleteAsync("tstitch:job:" + id, "data");
        await db.HashSetAsync("tstitch:job:" + id, [new("latents", TensorMessages.BytesOf([5f, 6f])), new("checkpoint_step", 2)]);
        Assert.Equal(new[] { 5f, 6f }, (await store.GetAsync(id))!.Latents);

        Assert.True(await store.SaveAsync(job with { Status = JobStatus.Running, Step = 3, CheckpointStep = 3, Latents = [7f, 8f] }));
        Assert.False(await db.HashExistsAsync("tstitch:job:" + id, "latents"));
        Assert.Equal(new[] { 7f, 8f }, (await store.GetAsync(id))!.Latents);
    }

    [Fact]
    public async Task Tensors_an_older_orchestrator_wrote_last_win_over_the_data_key_and_data_that_is_gone_reads_as_none()
    {
        var (store, db, id, job) = await CreatedJobAsync();
        job = job with { Status = JobStatus.Running };
        Assert.True(await store.SaveAsync(job with { Step = 2, CheckpointStep = 2, Latents = [2f, 2f] }));
        // A rolling upgrade: an orchestrator of the earlier version writes step 4 the old way, inline, leaving the pointer.
        await db.HashSetAsync("tstitch:job:" + id, [new("latents", TensorMessages.BytesOf([4f, 4f])), new("prev_x0", ""),
            new("checkpoint_step", 4)]);
        var read = (await store.GetAsync(id))!;
        Assert.Equal(4, read.CheckpointStep);
        Assert.Equal(new[] { 4f, 4f }, read.Latents);

        // This version's next write moves it back, and its data then vanishes (an eviction, a manual DEL): read without it.
        Assert.True(await store.SaveAsync(job with { Step = 6, CheckpointStep = 6, Latents = [6f, 6f] }));
        Assert.Equal(new[] { 6f, 6f }, (await store.GetAsync(id))!.Latents);
        await db.KeyDeleteAsync(Assert.Single(DataKeys(id)));
        read = (await store.GetAsync(id))!;
        Assert.Equal(6, read.CheckpointStep);
        Assert.Null(read.Latents);
    }

    [Fact]
    public async Task A_write_whose_data_never_landed_changes_nothing_and_answers_unavailable()
    {
        var (store, _, id, job) = await CreatedJobAsync();
        job = job with { Status = JobStatus.Running };
        Assert.True(await store.SaveAsync(job with { Step = 2, CheckpointStep = 2, Latents = [2f, 2f] }));
        var keys = DataKeys(id);

        // The same owner's next checkpoint, whose data HSET is lost on the way (a dropped command, an eviction).
        var lossy = new RedisJobStore(DataWriteDroppingRedis.Wrap(cluster.RedisConnection), TimeSpan.FromHours(1), Clock);
        var ex = await Assert.ThrowsAsync<ServiceFailureException>(() =>
            lossy.SaveAsync(job with { Step = 5, CheckpointStep = 5, Latents = [5f, 5f] }));
        Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
        Assert.Contains("noeviction", ex.Message);

        // The job still points at its last checkpoint, whole.
        var read = (await store.GetAsync(id))!;
        Assert.Equal((2, 2), (read.Step, read.CheckpointStep));
        Assert.Equal(new[] { 2f, 2f }, read.Latents);
        Assert.Equal(keys, DataKeys(id));
    }

    [Fact]
    public async Task A_redis_at_its_maxmemory_makes_the_store_unavailable_and_keeps_the_last_checkpoint()
    {
        var (store, _, id, job) = await CreatedJobAsync();
        job = job with { Status = JobStatus.Running };
        Assert.True(await store.SaveAsync(job with { Step = 2, CheckpointStep = 2, Latents = [2f, 2f] }));
        await using var admin = await ConnectionMultiplexer.ConnectAsync($"{cluster.Redis},allowAdmin=true");
        var server = admin.GetServers()[0];
        await server.ConfigSetAsync("maxmemory", "1"); // noeviction (Redis' default): every write is refused
        try
        {
            var ex = await Assert.ThrowsAsync<ServiceFailureException>(() =>
                store.SaveAsync(job with { Step = 5, CheckpointStep = 5, Latents = [5f, 5f] }));
            Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
            Assert.Contains("maxmemory", ex.Message);
        }
        finally { await server.ConfigSetAsync("maxmemory", "0"); }
        var read = (await store.GetAsync(id))!;
        Assert.Equal(2, read.CheckpointStep);
        Assert.Equal(new[] { 2f, 2f }, read.Latents);
    }

    /// <summary>A new job of owner "a" in a store on the fixture's Redis, and that Redis to look behind the store.</summary>
    private async Task<(IJobStore Store, IDatabase Db, string Id, JobRecord Job)> CreatedJobAsync()
    {
        var store = NewStore();
        string id = "contract-" + Guid.NewGuid().ToString("N");
        var job = NewJob(id, "a", Clock.GetUtcNow().AddMinutes(1));
        await store.CreateAsync(job);
        return (store, cluster.RedisConnection.GetDatabase(), id, job);
    }

    private string[] DataKeys(string id) =>
        cluster.RedisConnection.GetServers()[0].Keys(pattern: $"tstitch:job:{id}:data:*").Select(k => k.ToString()).ToArray();
}
