using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using TStitch.Hosting.Errors;
using TStitch.Orchestration;

namespace TStitch.Orchestration.Tests;

/// <summary>
/// Takeovers after a job-store outage: every lease ran out during it, so an orchestrator that saw the store fail waits a
/// lease before it takes over jobs, leaving their owners the time to renew. Real clock, a one-second lease.
/// </summary>
public class JobLeasesTests
{
    [Fact]
    public async Task After_a_store_outage_takeovers_wait_a_lease()
    {
        await using var app = OrchestratorApp.Create([
            "--Orchestrator:Pools:small=http://127.0.0.1:1", "--Orchestrator:Pools:large=http://127.0.0.1:1",
            "--Orchestrator:JobLease=00:00:01", "--Orchestrator:RetryAttempts=1"]);
        var services = app.Services;
        var inner = services.GetRequiredService<IJobStore>();
        var store = new FlakyStore(inner);
        var instance = services.GetRequiredService<OrchestratorInstance>();
        var leases = new JobLeases(services.GetRequiredService<JobManager>(), store, services.GetRequiredService<JobCheckpoints>(),
            instance, services.GetRequiredService<IOptions<OrchestratorOptions>>(), services.GetRequiredService<IHostApplicationLifetime>(),
            TimeProvider.System, NullLogger<JobLeases>.Instance);
        // A job whose owner stopped renewing (its lease ran out during the outage, say).
        await inner.CreateAsync(JobStoreContract.NewJob("orphan", "another-orchestrator", DateTimeOffset.UtcNow.AddSeconds(-1)));

        store.Down = true;
        var ex = await Assert.ThrowsAsync<ServiceFailureException>(() => leases.MaintainAsync(CancellationToken.None));
        Assert.Equal(FailureKind.StoreUnavailable, ex.Kind);
        store.Down = false;
        Assert.Equal(0, await leases.MaintainAsync(CancellationToken.None)); // within a lease of the failure: held
        Assert.Equal("another-orchestrator", (await inner.GetAsync("orphan"))!.Owner);

        await Task.Delay(TimeSpan.FromSeconds(1.1));
        Assert.Equal(1, await leases.MaintainAsync(CancellationToken.None)); // its owner had a lease to renew: taken over
        Assert.Equal(instance.Id, (await inner.GetAsync("orphan"))!.Owner);
    }
}
