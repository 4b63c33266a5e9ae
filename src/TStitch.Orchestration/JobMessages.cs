using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using TStitch.Contracts;

namespace TStitch.Orchestration;

/// <summary>Job records as the Orchestrator API shows them.</summary>
public static class JobMessages
{
    /// <param name="liveStep">Steps done by the run in this process, ahead of the last stored checkpoint.</param>
    public static Job ToJob(JobRecord r, int liveStep = 0)
    {
        var job = new Job
        {
            JobId = r.Id, Status = r.Status, Step = Math.Max(r.Step, liveStep), Steps = r.Steps, Error = r.Error, Schedule = r.Schedule,
            ResumedFromStep = r.ResumedFromStep, ScheduleReason = r.Spec.ScheduleReason ?? "",
            Created = Timestamp.FromDateTimeOffset(r.Created), Updated = Timestamp.FromDateTimeOffset(r.Updated),
        };
        job.CallsPerPool.Add(r.CallsPerPool.ToDictionary());
        return job;
    }

    public static GenerateResult ToResult(JobRecord r, double elapsedMs)
    {
        var result = new GenerateResult { Job = ToJob(r), ElapsedMs = elapsedMs };
        if (r.Png is not null) result.Png = ByteString.CopyFrom(r.Png);
        if (r.Samples is not null)
        {
            int[] shape = r.SampleShape ?? [r.Samples.Length / r.Spec.Batch];
            result.Samples = TensorMessages.WrapFloats(r.Samples, [r.Spec.Batch, .. shape.Select(d => (long)d)]);
        }
        return result;
    }
}
