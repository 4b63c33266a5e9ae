using TStitch.Process.Tests.Otlp;
using TStitch.Process.Tests.Tracing;
using TStitch.Contracts;
using Xunit.Abstractions;

namespace TStitch.Process.Tests;

[Collection(ProcessClusterCollection.Name)]
public sealed class TraceTests(ProcessCluster cluster, ITestOutputHelper output)
{
    private static readonly TimeSpan ExportWait = TimeSpan.FromSeconds(15);

    [Fact]
    public async Task One_job_is_one_trace_rooted_at_the_job_span_across_all_three_processes()
    {
        var request = ProcessRequests.Stitched("trace");
        var result = await cluster.Client.GenerateAsync(request, deadline: DateTime.UtcNow + ProcessRequests.Deadline);
        Assert.True(result.Job.Status == JobStatus.Succeeded, $"{result.Job.Status} {result.Job.Error}");

        var spans = cluster.Otlp.Spans;
        var job = await spans.WaitForAsync(s => s.Find(x => x.Name == "job" && x.Attribute("tstitch.job") == request.JobId), ExportWait);
        Assert.True(job is not null,
            $"No 'job' span with tstitch.job={request.JobId} arrived within {ExportWait.TotalSeconds} s. Received:\n{spans.Summary()}");
        // Spans arrive per process in batches: wait (bounded) for the whole trace, then check whatever came.
        await spans.WaitUntilAsync(
            s => TraceShape.LooksComplete(s.Trace(job!.TraceId), ProcessRequests.Steps, ProcessRequests.StepsPerPool.Count), ExportWait);
        var trace = spans.Trace(job!.TraceId);
        output.WriteLine(SpanTreeRenderer.Render(trace));

        TraceShape.AssertJobTrace(trace, request.JobId, ProcessRequests.Steps, ProcessRequests.StepsPerPool);
    }
}
