using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Orchestration.Frontier;

namespace TStitch.Orchestration;

/// <summary>The Orchestrator RPCs: map the request once, hand it to the job layer, map the answer. Errors map in the interceptor.</summary>
public sealed class OrchestratorService(JobFollower follower, JobManager jobs, IJobStore store, IOptions<OrchestratorOptions> options,
    ScheduleChooser chooser, LoadController load)
    : Contracts.Orchestrator.OrchestratorBase
{
    public override async Task<GenerateResult> Generate(GenerateRequest request, ServerCallContext context)
    {
        long started = Stopwatch.GetTimestamp();
        var (id, spec) = JobRequestMapping.ToJob(request, options.Value, chooser, load);
        var job = await follower.GenerateAsync(id, spec, null, context.Deadline, context.CancellationToken);
        return JobMessages.ToResult(job, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
    }

    public override async Task GenerateStream(GenerateRequest request, IServerStreamWriter<GenerateEvent> responseStream,
        ServerCallContext context)
    {
        long started = Stopwatch.GetTimestamp();
        var (id, spec) = JobRequestMapping.ToJob(request, options.Value, chooser, load);
        var job = await follower.GenerateAsync(id, spec, p => new ValueTask(responseStream.WriteAsync(new GenerateEvent { Progress = p })),
            context.Deadline, context.CancellationToken);
        await responseStream.WriteAsync(new GenerateEvent { Result = JobMessages.ToResult(job,
            Stopwatch.GetElapsedTime(started).TotalMilliseconds) });
    }

    public override async Task<Job> GetJob(GetJobRequest request, ServerCallContext context)
    {
        var id = JobIds.Check(request.JobId);
        var job = await store.GetAsync(id, false, context.CancellationToken) ?? throw new ServiceFailureException(FailureKind.NotFound,
            $"No job with id '{id}'.");
        return JobMessages.ToJob(job, jobs.Running(id)?.Step ?? 0);
    }

    public override async Task<Job> CancelJob(CancelJobRequest request, ServerCallContext context) =>
        JobMessages.ToJob(await jobs.CancelAsync(JobIds.Check(request.JobId), context.CancellationToken));
}
