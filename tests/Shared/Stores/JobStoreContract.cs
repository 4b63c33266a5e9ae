using Microsoft.Extensions.Time.Testing;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Tests.Shared;

/// <summary>
/// What every <see cref="IJobStore"/> promises, on a fake clock (leases are compared with the caller's
/// clock, Redis's included): a claim holds until its lease expires, a release frees it at once, only
/// the owner writes, creation is idempotent and claims, a finished job's write ends its lease, and a
/// save reads back as written. Each store runs it: in memory here, Redis in the cluster tests.
/// </summary>
public abstract class JobStoreContract
{
    protected FakeTimeProvider Clock { get; } = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);
    /// <summary>Unique per test: a shared Redis holds every test's jobs.</summary>
    private readonly string _id = "contract-" + Guid.NewGuid().ToString("N");

    protected abstract IJobStore NewStore();

    public static JobRecord NewJob(string id, string owner, DateTimeOffset leaseUntil) => new()
    {
        Id = id, Owner = owner, LeaseUntil = leaseUntil, Steps = 10,
        Spec = new JobSpec([1], 10, SamplerKind.Ddim, [new SwitchStage("small", 0.4), new SwitchStage("large", 0.6)],
            1f, 1, 0, ResultFormat.Raw),
    };

    [Fact]
    public async Task A_live_claim_excludes_others_until_its_lease_expires()
    {
        var store = NewStore();
        await store.CreateAsync(NewJob(_id, "a", Clock.GetUtcNow() + Lease));
        Assert.False(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
        Assert.True(await store.TryClaimAsync(_id, "a", Clock.GetUtcNow() + Lease)); // the owner renews

        Clock.Advance(Lease - TimeSpan.FromMilliseconds(1));
        Assert.False(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
        Clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.True(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
        var claimed = (await store.GetAsync(_id))!;
        Assert.Equal("b", claimed.Owner);
        Assert.Equal((Clock.GetUtcNow() + Lease).ToUnixTimeMilliseconds(), claimed.LeaseUntil.ToUnixTimeMilliseconds());
    }

    [Fact]
    public async Task A_released_lease_can_be_claimed_at_once_and_only_by_one()
    {
        var store = NewStore();
        await store.CreateAsync(NewJob(_id, "a", Clock.GetUtcNow() + Lease));
        await store.ReleaseAsync(_id, "someone-else"); // only the owner can release
        Assert.False(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
        await store.ReleaseAsync(_id, "a");
        var claims = await Task.WhenAll(new[] { "b", "c", "d" }.Select(o => store.TryClaimAsync(_id, o, Clock.GetUtcNow() + Lease)));
        Assert.Equal(1, claims.Count(c => c));
    }

    [Fact]
    public async Task Only_the_owner_writes_and_finished_jobs_cannot_be_claimed()
    {
        var store = NewStore();
        var job = NewJob(_id, "a", Clock.GetUtcNow() + Lease);
        await store.CreateAsync(job);
        Assert.False(await store.SaveAsync(job with { Owner = "b", Step = 5 }));
        Assert.True(await store.SaveAsync(job with { Step = 5 }));
        Assert.Contains(_id, await store.UnfinishedAsync());
        Assert.True(await store.SaveAsync(job with { Status = JobStatus.Succeeded, Step = 10 }));
        // The finished job's write ended its lease: nobody runs it any more.
        Assert.True((await store.GetAsync(_id, withData: false))!.LeaseUntil <= Clock.GetUtcNow());
        Clock.Advance(Lease * 2);
        Assert.False(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
        Assert.DoesNotContain(_id, await store.UnfinishedAsync());
    }

    [Fact]
    public async Task Creating_a_job_claims_it_in_the_same_write()
    {
        var store = NewStore();
        var (_, isNew) = await store.CreateAsync(NewJob(_id, "a", Clock.GetUtcNow() + Lease));
        Assert.True(isNew);
        var (existing, again) = await store.CreateAsync(NewJob(_id, "b", Clock.GetUtcNow() + Lease));
        Assert.False(again);
        Assert.Equal("a", existing.Owner);
        Assert.False(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
    }

    [Fact]
    public async Task A_save_reads_back_as_written_and_keeps_the_owner_and_spec()
    {
        var store = NewStore();
        var job = NewJob(_id, "a", Clock.GetUtcNow() + Lease);
        await store.CreateAsync(job);
        var saved = job with
        {
            Status = JobStatus.Running, Step = 6, CheckpointStep = 5, Latents = [1f, -2.5f, 3e-8f], PreviousX0 = [0.5f, 0f, -1f],
            SampleShape = [3, 1, 1], CallsPerPool = new Dictionary<string, int> { ["small"] = 4, ["large"] = 2 }, ResumedFromStep = 2,
            Updated = Clock.GetUtcNow().AddSeconds(3),
        };
        Assert.True(await store.SaveAsync(saved));
        var read = (await store.GetAsync(_id))!;
        Assert.Equal((JobStatus.Running, 6, 5, 2), (read.Status, read.Step, read.CheckpointStep, read.ResumedFromStep));
        Assert.Equal(saved.Latents, read.Latents);
        Assert.Equal(saved.PreviousX0, read.PreviousX0);
        Assert.Equal(saved.SampleShape, read.SampleShape);
        Assert.Equal(saved.CallsPerPool, read.CallsPerPool);
        Assert.Equal(saved.Updated.ToUnixTimeMilliseconds(), read.Updated.ToUnixTimeMilliseconds());
        Assert.Equal("a", read.Owner);
        Assert.True(read.Spec.SameAs(job.Spec));

        var finished = saved.Finish(JobStatus.Succeeded, FailureKind.None, "", Clock.GetUtcNow()) with
        {
            Latents = null, PreviousX0 = null, Samples = [4f, 5f, 6f], Png = [137, 80, 78, 71],
        };
        Assert.True(await store.SaveAsync(finished));
        read = (await store.GetAsync(_id))!;
        Assert.Equal(JobStatus.Succeeded, read.Status);
        Assert.Null(read.Latents);
        Assert.Equal(finished.Samples, read.Samples);
        Assert.Equal(finished.Png, read.Png);
    }

    [Fact]
    public async Task A_finished_job_requeued_by_its_owner_is_unfinished_again()
    {
        var store = NewStore();
        var job = NewJob(_id, "a", Clock.GetUtcNow() + Lease);
        await store.CreateAsync(job);
        var failed = job.Finish(JobStatus.Failed, FailureKind.PoolUnavailable, "pool down", Clock.GetUtcNow());
        Assert.True(await store.SaveAsync(failed));
        Assert.DoesNotContain(_id, await store.UnfinishedAsync());
        Assert.True(await store.SaveAsync(failed.Finish(JobStatus.Queued, FailureKind.None, "", Clock.GetUtcNow())));
        Assert.Contains(_id, await store.UnfinishedAsync());
        // Its lease ended with the failure, so any orchestrator may claim and run it.
        Assert.True(await store.TryClaimAsync(_id, "b", Clock.GetUtcNow() + Lease));
    }
}
