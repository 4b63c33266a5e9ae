using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using Microsoft.Extensions.Hosting;
using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>The Orchestrator RPCs: thin adapters over <see cref="JobManager"/>.</summary>
public sealed class OrchestratorService(JobManager jobs, IHostApplicationLifetime lifetime) : Contracts.Orchestrator.OrchestratorBase
{
    private static readonly TimeSpan ElsewherePollInterval = TimeSpan.FromMilliseconds(100);

    public override Task<GenerateResult> Generate(GenerateRequest request, ServerCallContext context) =>
        RunToResultAsync(request, null, context);

    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateEvent> responseStream, ServerCallContext context)
    {
        var result = await RunToResultAsync(request, p => new ValueTask(responseStream.WriteAsync(new GenerateEvent { Progress = p })), context);
        await responseStream.WriteAsync(new GenerateEvent { Result = result });
    }

    public override async Task<Job> GetJob(GetJobRequest request, ServerCallContext context) =>
        ToJob(await jobs.GetAsync(request.JobId, false, context.CancellationToken) ?? throw new KeyNotFoundException($"No job with id '{request.JobId}'."));

    public override async Task<Job> CancelJob(CancelJobRequest request, ServerCallContext context) =>
        ToJob(await jobs.CancelAsync(request.JobId, context.CancellationToken));

    private async Task<GenerateResult> RunToResultAsync(GenerateRequest request, JobManager.ProgressHandler? progress, ServerCallContext context)
    {
        var started = DateTime.UtcNow;
        var ct = context.CancellationToken;
        var (job, running) = await jobs.SubmitAsync(request, progress, ct);
        while (running is null && !job.IsFinished)
        {
            // Another live orchestrator runs this job id: wait for its outcome in the store.
            await Task.Delay(ElsewherePollInterval, ct);
            var latest = await jobs.GetAsync(job.Id, false, ct) ?? throw new KeyNotFoundException($"Job {job.Id} disappeared from the job store.");
            (job, running) = await jobs.FollowAsync(latest, progress, ct);
        }
        if (running is not null) job = await WaitAsync(running, context);
        else if (job.Status == JobStatus.Succeeded) job = await jobs.GetAsync(job.Id, true, ct) ?? job; // the result's data
        return job.Status == JobStatus.Succeeded
            ? new GenerateResult
            {
                Job = ToJob(job),
                Png = job.Png is null ? ByteString.Empty : ByteString.CopyFrom(job.Png),
                Samples = job.Samples is null ? null : TensorMessages.FromFloats(job.Samples, job.Request.ClassLabels.Count, job.Samples.Length / job.Request.ClassLabels.Count),
                ElapsedMs = (DateTime.UtcNow - started).TotalMilliseconds,
            }
            : throw new RpcException(new Status(job.ErrorCode == StatusCode.OK ? StatusCode.Internal : job.ErrorCode,
                $"Job {job.Id} {(job.Status == JobStatus.Cancelled ? "was cancelled" : "failed")} at step {job.Step}/{job.Steps}: {job.Error}"));
    }

    /// <summary>Waits for a job running here; this caller going away stops it only if nobody else waits.</summary>
    private async Task<JobRecord> WaitAsync(RunningJob running, ServerCallContext context)
    {
        using var waiter = running.Attach();
        using var onCallEnd = context.CancellationToken.Register(() =>
            waiter.Leave(lifetime.ApplicationStopping.IsCancellationRequested ? StopReason.Shutdown
                : context.Deadline <= DateTime.UtcNow ? StopReason.DeadlineExceeded : StopReason.ClientCancelled));
        try
        {
            return await running.Completion;
        }
        catch (OperationCanceledException) when (running.StopReason is StopReason.Shutdown or StopReason.LeaseLost)
        {
            throw new RpcException(new Status(StatusCode.Unavailable,
                $"Job {running.Id} moved: {(running.StopReason == StopReason.Shutdown ? "this orchestrator is shutting down" : "another orchestrator took it over")}; " +
                "call again with the same job_id to follow it."));
        }
        catch (OperationCanceledException)
        {
            // This caller left while others keep the job running.
            throw new RpcException(new Status(context.Deadline <= DateTime.UtcNow ? StatusCode.DeadlineExceeded : StatusCode.Cancelled,
                $"Stopped waiting for job {running.Id}."));
        }
        catch (Exception)
        {
            // The run failed and recorded how; answer with that record's status.
            var failed = await jobs.GetAsync(running.Id, false, CancellationToken.None);
            if (failed is { IsFinished: true }) return failed;
            throw;
        }
    }

    public static Job ToJob(JobRecord r)
    {
        var job = new Job
        {
            JobId = r.Id, Status = r.Status, Step = r.Step, Steps = r.Steps, Error = r.Error, Schedule = r.Schedule,
            ResumedFromStep = r.ResumedFromStep, Created = Timestamp.FromDateTimeOffset(r.Created), Updated = Timestamp.FromDateTimeOffset(r.Updated),
        };
        job.CallsPerPool.Add(r.CallsPerPool.ToDictionary());
        return job;
    }
}
