using Microsoft.Extensions.Hosting;
using TStitch.Contracts;
using TStitch.Hosting.Errors;

namespace TStitch.Orchestration;

/// <summary>
/// What a Generate caller does with a job: submit it (or find it by id), then follow it to its end,
/// wherever it runs: attached to it here (with progress), or polling the store while another live
/// orchestrator runs it, taking it over if that one dies. Returns the finished job with its result;
/// a job that failed or was cancelled is thrown as its failure.
/// </summary>
public sealed class JobFollower(JobManager jobs, IJobStore store, IHostApplicationLifetime lifetime, TimeProvider time)
{
    private static readonly TimeSpan ElsewherePollInterval = TimeSpan.FromMilliseconds(100);

    /// <summary>
    /// A call that ends this close to its deadline ended because of it. The client's own deadline timer
    /// fires first and resets the stream, which this server sees as a disconnect up to a network latency
    /// before its copy of the deadline (grpc-timeout is relative, so the server's deadline is later).
    /// </summary>
    private static readonly TimeSpan DeadlineSlack = TimeSpan.FromSeconds(1);

    public async Task<JobRecord> GenerateAsync(string id, JobSpec spec, RunningJob.ProgressHandler? progress, DateTime deadline,
        CancellationToken cancellationToken)
    {
        var (job, created) = await jobs.SubmitAsync(id, spec, cancellationToken);
        var waiter = created ? jobs.StartCreated(job, progress) : null;
        while (true)
        {
            if (waiter is null) (job, waiter) = await jobs.FollowAsync(job, progress, cancellationToken);
            if (waiter is not null)
            {
                job = await WaitAsync(waiter, deadline, cancellationToken);
                break;
            }
            if (job.IsFinished) break;
            // Another live orchestrator runs this job: wait for its outcome in the store.
            await Task.Delay(ElsewherePollInterval, time, cancellationToken);
            job = await store.GetAsync(id, false, cancellationToken)
                  ?? throw new ServiceFailureException(FailureKind.NotFound, $"Job {id} disappeared from the job store.");
        }
        if (job.Status != JobStatus.Succeeded)
            throw new ServiceFailureException(job.Failure == FailureKind.None ? FailureKind.Internal : job.Failure,
                $"Job {job.Id} {(job.Status == JobStatus.Cancelled ? "was cancelled" : "failed")} at step {job.Step}/{job.Steps}: " +
                    $"{job.Error}");
        return job.Png is null && job.Samples is null ? await store.GetAsync(id, true, cancellationToken) ?? job : job;
    }

    /// <summary>Waits for a job running here; this caller going away stops it only if nobody else waits.</summary>
    private async Task<JobRecord> WaitAsync(RunningJob.Waiter waiter, DateTime deadline, CancellationToken cancellationToken)
    {
        using var _ = waiter;
        var running = waiter.Job;
        using var onCallEnd = cancellationToken.Register(() => waiter.Leave(
            lifetime.ApplicationStopping.IsCancellationRequested ? StopReason.Shutdown
            : deadline - DateTime.UtcNow <= DeadlineSlack ? StopReason.DeadlineExceeded
            : StopReason.CallerLeft));
        try
        {
            return await running.Completion;
        }
        catch (OperationCanceledException) when (running.StopReason is StopReason.Shutdown or StopReason.LeaseLost)
        {
            throw new ServiceFailureException(running.StopReason == StopReason.Shutdown ? FailureKind.ShuttingDown : FailureKind.Moved,
                $"Job {running.Id} moved: " +
                    (running.StopReason == StopReason.Shutdown
                        ? "this orchestrator is shutting down"
                        : "another orchestrator took it over") +
                    "; call again with the same job_id to follow it.");
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            throw; // this caller left while others keep the job running
        }
        catch (Exception)
        {
            // The run failed and recorded how; answer with that record.
            var failed = await store.GetAsync(running.Id, false, CancellationToken.None);
            if (failed is { IsFinished: true }) return failed;
            throw;
        }
    }
}
