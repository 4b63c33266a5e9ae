using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;
using TStitch.Hosting.Errors;
using TStitch.Orchestration;

namespace TStitch.Orchestration.Tests;

/// <summary>Checkpoint writes through store outages, a store that lost the job, and a job taken over, on a fake clock.</summary>
public class JobCheckpointsTests
{
    private readonly FakeTimeProvider _clock = new(DateTimeOffset.Parse("2026-01-01T00:00:00Z"));
    private readonly OrchestratorOptions _options =
        new() { StoreOutageTolerance = TimeSpan.FromSeconds(30), Pools = { ["small"] = "http://s:1" } };

    private (JobCheckpoints Checkpoints, FlakyStore Store, OrchestratorInstance Me) Create()
    {
        var options = Microsoft.Extensions.Options.Options.Create(_options);
        var store = new FlakyStore(new InMemoryJobStore(_clock));
        var me = new OrchestratorInstance(options, _clock);
        return (new JobCheckpoints(store, me, options, _clock, NullLogger<JobCheckpoints>.Instance), store, me);
    }

    /// <summary>A job "j" this orchestrator owns, already in the store, and its running handle.</summary>
    private async Task<(JobCheckpoints Checkpoints, FlakyStore Store, JobRecord Job, RunningJob Running)> CreateWithJobAsync()
    {
        var (checkpoints, store, me) = Create();
        var job = JobStoreContract.NewJob("j", me.Id, me.LeaseEnd());
        await store.CreateAsync(job);
        return (checkpoints, store, job, new RunningJob("j"));
    }

    [Fact]
    public async Task Checkpoints_during_a_short_outage_are_skipped_and_the_job_runs_on()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();

        store.Down = true;
        await checkpoints.SaveAsync(job with { Step = 3 }, running, final: false); // no throw: skipped
        Assert.NotNull(running.StoreOutageSince);
        _clock.Advance(TimeSpan.FromSeconds(20));
        await checkpoints.SaveAsync(job with { Step = 6 }, running, final: false);

        store.Down = false;
        await checkpoints.SaveAsync(job with { Step = 9 }, running, final: false);
        Assert.Null(running.StoreOutageSince);
        Assert.Equal(9, (await store.GetAsync("j"))!.Step);
    }

    [Fact]
    public async Task Two_short_outages_with_the_store_reached_between_them_do_not_add_up()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        store.Down = true;
        await checkpoints.SaveAsync(job with { Step = 3 }, running, final: false);
        _clock.Advance(TimeSpan.FromSeconds(20));
        checkpoints.StoreReached(running); // the lease renewed (JobLeases) while no checkpoint was due
        _clock.Advance(TimeSpan.FromSeconds(15));
        await checkpoints.SaveAsync(job with { Step = 6 }, running, final: false); // 35 s after the first failure: skipped
        Assert.Equal(_clock.GetUtcNow(), running.StoreOutageSince);
    }

    [Fact]
    public async Task A_final_write_gives_up_after_the_tolerance_even_while_the_lease_renews()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        store.Down = true; // saves fail (their data evicted, say) while the small lease scripts get through
        var final = checkpoints.SaveAsync(job with { Step = 9 }, running, final: true);
        for (int second = 0; second < 60 && !final.IsCompleted; second++)
        {
            checkpoints.StoreReached(running); // JobLeases renewed the lease
            _clock.Advance(TimeSpan.FromSeconds(1));
            await Task.Delay(10);
        }
        var ex = await Assert.ThrowsAsync<ServiceFailureException>(() => final.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
    }

    [Fact]
    public async Task An_outage_longer_than_the_tolerance_fails_the_job_as_store_unavailable()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        store.Down = true;
        await checkpoints.SaveAsync(job with { Step = 3 }, running, final: false);
        _clock.Advance(TimeSpan.FromSeconds(31));
        var ex = await Assert.ThrowsAsync<ServiceFailureException>(() =>
            checkpoints.SaveAsync(job with { Step = 6 }, running, final: false));
        Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
    }

    [Fact]
    public async Task A_final_write_waits_for_the_store_to_come_back()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        store.Down = true;
        var final = checkpoints.SaveAsync(job with { Step = 10, Status = Contracts.JobStatus.Succeeded }, running, final: true);
        for (int i = 0; i < 5 && !final.IsCompleted; i++)
        {
            await Task.Yield();
            _clock.Advance(TimeSpan.FromSeconds(1)); // the retry waits on the fake clock
            await Task.Delay(10);
        }
        Assert.False(final.IsCompleted);
        store.Down = false;
        for (int i = 0; i < 50 && !final.IsCompleted; i++)
        {
            _clock.Advance(TimeSpan.FromSeconds(2));
            await Task.Delay(10);
        }
        await final;
        Assert.Equal(Contracts.JobStatus.Succeeded, (await store.GetAsync("j"))!.Status);
    }

    [Fact]
    public async Task A_store_that_lost_the_job_gets_it_written_back_by_its_owner()
    {
        var (checkpoints, store, me) = Create();
        var running = new RunningJob("j");
        var job = JobStoreContract.NewJob("j", me.Id, me.LeaseEnd()) with { Step = 7, CheckpointStep = 7, Latents = [1f, 2f] };
        await checkpoints.SaveAsync(job, running, final: false); // the store has no such job (restarted empty)
        var stored = await store.GetAsync("j");
        Assert.NotNull(stored);
        Assert.Equal(7, stored!.CheckpointStep);
        Assert.Equal(me.Id, stored.Owner);
        Assert.Equal([1f, 2f], stored.Latents!);
    }

    [Fact]
    public async Task A_job_another_orchestrator_owns_stops_this_one_writing()
    {
        var (checkpoints, store, me) = Create();
        await store.CreateAsync(JobStoreContract.NewJob("j", "thief", _clock.GetUtcNow() + TimeSpan.FromMinutes(5)));
        var running = new RunningJob("j");
        await Assert.ThrowsAsync<OperationCanceledException>(() =>
            checkpoints.SaveAsync(JobStoreContract.NewJob("j", me.Id, me.LeaseEnd()) with { Step = 4 }, running, final: false));
        Assert.Equal(StopReason.LeaseLost, running.StopReason);
        Assert.Equal(0, (await store.GetAsync("j"))!.Step);
    }

    [Fact]
    public async Task Writes_behind_the_run_land_in_order_and_a_failed_one_stops_later_writes()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        var gate = new TaskCompletionSource();
        store.Gate = gate.Task;
        await checkpoints.SaveBehind(job with { Step = 3 }, running, final: false); // returns before the write lands
        await checkpoints.SaveBehind(job with { Step = 6 }, running, final: false);
        Assert.Equal(0, (await store.GetAsync("j"))!.Step);
        gate.SetResult();
        await checkpoints.SavedAsync(running);
        Assert.Equal([3, 6], store.SavedSteps);

        // Another orchestrator took the job: that write fails, the next checkpoint says so and writes nothing.
        _clock.Advance(TimeSpan.FromHours(1)); // our lease ran out (no renewal here)
        Assert.True(await store.TryClaimAsync("j", "thief", _clock.GetUtcNow().AddMinutes(5)));
        await checkpoints.SaveBehind(job with { Step = 9 }, running, final: false);
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => checkpoints.SavedAsync(running));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(async () =>
            await checkpoints.SaveBehind(job with { Step = 12 }, running, false));
        Assert.DoesNotContain(12, store.SavedSteps);
        Assert.Equal(StopReason.LeaseLost, running.StopReason);
    }

    [Fact]
    public async Task A_finished_jobs_save_waits_for_writes_in_flight_and_ends_its_lease()
    {
        var (checkpoints, store, job, running) = await CreateWithJobAsync();
        var gate = new TaskCompletionSource();
        store.Gate = gate.Task;
        await checkpoints.SaveBehind(job with { Step = 5 }, running, final: false);
        var end = checkpoints.EndAsync(running, job.Finish(Contracts.JobStatus.Succeeded, FailureKind.None, "", _clock.GetUtcNow()) with
        {
            Step = 10,
        });
        await Task.Delay(20);
        Assert.False(end.IsCompleted); // the checkpoint before it has not landed
        gate.SetResult();
        await end;
        Assert.Equal([5, 10], store.SavedSteps);
        var stored = (await store.GetAsync("j"))!;
        Assert.Equal(Contracts.JobStatus.Succeeded, stored.Status);
        Assert.True(stored.LeaseUntil <= _clock.GetUtcNow());
    }
}
