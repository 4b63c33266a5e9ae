using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using TStitch.Protos;

namespace TStitch.Orchestration;

/// <summary>The Orchestrator RPCs: thin adapters over <see cref="JobManager"/>.</summary>
public sealed class OrchestratorService(JobManager jobs, Microsoft.Extensions.Hosting.IHostApplicationLifetime lifetime) : Protos.Orchestrator.OrchestratorBase
{
    public override Task<GenerateResult> Generate(GenerateRequest request, ServerCallContext context) =>
        RunToResultAsync(request, null, context);

    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateEvent> responseStream, ServerCallContext context)
    {
        var result = await RunToResultAsync(request, p => new ValueTask(responseStream.WriteAsync(new GenerateEvent { Progress = p })), context);
        await responseStream.WriteAsync(new GenerateEvent { Result = result });
    }

    public override async Task<Job> GetJob(GetJobRequest request, ServerCallContext context) =>
        ToJob(await jobs.GetAsync(request.JobId, context.CancellationToken) ?? throw new KeyNotFoundException($"No job with id '{request.JobId}'."));

    public override async Task<Job> CancelJob(CancelJobRequest request, ServerCallContext context) =>
        ToJob(await jobs.CancelAsync(request.JobId, context.CancellationToken));

    private async Task<GenerateResult> RunToResultAsync(GenerateRequest request, JobManager.ProgressHandler? progress, ServerCallContext context)
    {
        var started = DateTime.UtcNow;
        var (job, running) = await jobs.SubmitAsync(request, progress, context.CancellationToken);
        while (running is null && !job.IsFinished)
        {
            // Another live orchestrator runs this job id: wait for its result in the store.
            await Task.Delay(100, context.CancellationToken);
            (job, running) = await jobs.FollowAsync(await jobs.GetAsync(job.Id, context.CancellationToken) ?? job, progress, context.CancellationToken);
        }
        if (running is not null)
        {
            // The caller going away (cancel or deadline) stops the trajectory within one step.
            using var onCallEnd = context.CancellationToken.Register(() =>
                running.Stop(lifetime.ApplicationStopping.IsCancellationRequested ? StopReason.Shutdown
                    : context.Deadline <= DateTime.UtcNow ? StopReason.DeadlineExceeded : StopReason.ClientCancelled));
            try
            {
                job = await running.Completion;
            }
            catch (OperationCanceledException) when (running.StopReason == StopReason.Shutdown)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, $"The orchestrator is shutting down; job {running.Id} resumes from its last checkpoint when an orchestrator restarts."));
            }
            catch (PoolUnavailableException ex)
            {
                throw new RpcException(new Status(StatusCode.Unavailable, ex.Message));
            }
            catch (RpcException ex)
            {
                throw new RpcException(new Status(StatusCode.Internal, $"Job {running.Id} failed: {ex.Status.Detail}"));
            }
        }
        return job.Status switch
        {
            JobStatus.Succeeded => new GenerateResult
            {
                Job = ToJob(job),
                Png = job.Png is null ? Google.Protobuf.ByteString.Empty : Google.Protobuf.ByteString.CopyFrom(job.Png),
                Samples = job.Samples is null ? null : TensorMessages.FromFloats(job.Samples, job.Request.ClassLabels.Count, job.Samples.Length / job.Request.ClassLabels.Count),
                ElapsedMs = (DateTime.UtcNow - started).TotalMilliseconds,
            },
            JobStatus.Cancelled => throw new RpcException(new Status(StatusCode.Cancelled, $"Job {job.Id} was cancelled at step {job.Step}/{job.Steps}.")),
            _ when job.Error == "deadline exceeded" => throw new RpcException(new Status(StatusCode.DeadlineExceeded, $"Job {job.Id} ran out of time at step {job.Step}/{job.Steps}.")),
            _ => throw new RpcException(new Status(job.Error.Contains("unavailable") ? StatusCode.Unavailable : StatusCode.Internal, $"Job {job.Id} failed: {job.Error}")),
        };
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
