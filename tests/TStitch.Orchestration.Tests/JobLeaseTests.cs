using Microsoft.Extensions.Time.Testing;
using TStitch.Contracts;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Orchestration.Tests;

/// <summary>Job ownership on a fake clock: a claim holds until its lease expires, a release frees it at once.</summary>
public class JobLeaseTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
    private static readonly TimeSpan Lease = TimeSpan.FromSeconds(15);

    internal static JobRecord NewJob(string id, string owner, DateTimeOffset leaseUntil) => new()
    {
        Id = id, Owner = owner, LeaseUntil = leaseUntil, Steps = 10,
        Spec = new JobSpec([1], 10, SamplerKind.Ddim, [new SwitchStage("small", 0.4), new SwitchStage("large", 0.6)], 1f, 1, 0, ResultFormat.Raw),
    };

    [Fact]
    public async Task A_live_claim_excludes_others_until_its_lease_expires()
    {
        var store = new InMemoryJobStore(_clock);
        await store.CreateAsync(NewJob("j", "a", _clock.GetUtcNow() + Lease));
        Assert.False(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
        Assert.True(await store.TryClaimAsync("j", "a", _clock.GetUtcNow() + Lease)); // the owner renews

        _clock.Advance(Lease - TimeSpan.FromMilliseconds(1));
        Assert.False(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
        _clock.Advance(TimeSpan.FromMilliseconds(2));
        Assert.True(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
        Assert.Equal("b", (await store.GetAsync("j"))!.Owner);
    }

    [Fact]
    public async Task A_released_lease_can_be_claimed_at_once_and_only_by_one()
    {
        var store = new InMemoryJobStore(_clock);
        await store.CreateAsync(NewJob("j", "a", _clock.GetUtcNow() + Lease));
        await store.ReleaseAsync("j", "someone-else"); // only the owner can release
        Assert.False(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
        await store.ReleaseAsync("j", "a");
        var claims = await Task.WhenAll(new[] { "b", "c", "d" }.Select(o => store.TryClaimAsync("j", o, _clock.GetUtcNow() + Lease)));
        Assert.Equal(1, claims.Count(c => c));
    }

    [Fact]
    public async Task Only_the_owner_writes_and_finished_jobs_cannot_be_claimed()
    {
        var store = new InMemoryJobStore(_clock);
        var job = NewJob("j", "a", _clock.GetUtcNow() + Lease);
        await store.CreateAsync(job);
        Assert.False(await store.SaveAsync(job with { Owner = "b", Step = 5 }));
        Assert.True(await store.SaveAsync(job with { Step = 5 }));
        Assert.True(await store.SaveAsync(job with { Status = JobStatus.Succeeded, Step = 10 }));
        _clock.Advance(Lease * 2);
        Assert.False(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
        Assert.Empty(await store.UnfinishedAsync());
    }

    [Fact]
    public async Task Creating_a_job_claims_it_in_the_same_write()
    {
        var store = new InMemoryJobStore(_clock);
        var (created, isNew) = await store.CreateAsync(NewJob("j", "a", _clock.GetUtcNow() + Lease));
        Assert.True(isNew);
        var (existing, again) = await store.CreateAsync(NewJob("j", "b", _clock.GetUtcNow() + Lease));
        Assert.False(again);
        Assert.Equal("a", existing.Owner);
        Assert.False(await store.TryClaimAsync("j", "b", _clock.GetUtcNow() + Lease));
    }
}
