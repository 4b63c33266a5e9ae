using System.Diagnostics;
using Grpc.Core;
using TStitch.Process.Tests.Otlp;
using TStitch.Contracts;
using Xunit.Abstractions;

namespace TStitch.Process.Tests;

[Collection(ProcessClusterCollection.Name)]
public sealed class ProcessClusterTests(ProcessCluster cluster, ITestOutputHelper output)
{
    [Fact]
    public async Task Redis_and_the_three_service_processes_start_and_run_a_stitched_job()
    {
        output.WriteLine($"cluster start-up: {cluster.StartupTimings}");
        foreach (var process in cluster.Processes.Values)
        {
            Assert.True(process.IsRunning, cluster.DescribeAll());
            output.WriteLine($"{process.Name}: pid {process.Pid}, " +
                $"{string.Join(" ", process.Environment.Where(e => e.Key == "Urls").Select(e => e.Value))}");
        }

        var request = ProcessRequests.Stitched("generate");
        var clock = Stopwatch.StartNew();
        GenerateResult result;
        try
        {
            result = await cluster.Client.GenerateAsync(request, deadline: DateTime.UtcNow + ProcessRequests.Deadline);
        }
        catch (RpcException ex)
        {
            throw new Xunit.Sdk.XunitException($"Generate failed: {ex.Status}\n{cluster.DescribeAll()}");
        }
        output.WriteLine($"Generate: {clock.Elapsed.TotalMilliseconds:F0} ms (orchestrator: {result.ElapsedMs:F0} ms)");

        Assert.True(result.Job.Status == JobStatus.Succeeded,
            $"job {result.Job.JobId}: {result.Job.Status} {result.Job.Error}\n{cluster.DescribeAll()}");
        Assert.Equal(request.JobId, result.Job.JobId);
        Assert.Equal(ProcessRequests.Steps, result.Job.Step);
        Assert.Equal(ProcessRequests.StepsPerPool.OrderBy(p => p.Key), result.Job.CallsPerPool.OrderBy(p => p.Key));
        // orchestrator.proto documents samples as [B, C, H, W]; the orchestrator sends [B, C*H*W] today.
        Assert.Equal(2, result.Samples.Shape[0]);
        Assert.Equal(3 * 32 * 32, result.Samples.Shape.Skip(1).Aggregate(1L, (a, b) => a * b));
        var samples = result.Samples.ToFloats("samples");
        Assert.Equal(2 * 3 * 32 * 32, samples.Length);
        Assert.All(samples, v => Assert.True(float.IsFinite(v)));

        // Metrics reach the receiver too: each denoiser's batch-rows histogram (cumulative since the
        // process started) counts at least this job's runs, and every run of these tests has 2 rows.
        const string rows = "tstitch.denoiser.batch_rows";
        ulong Runs(MetricStore m, string service) => m.Latest(service, rows).Aggregate(0UL, (n, p) => n + p.Count);
        var metrics = cluster.Otlp.Metrics;
        bool arrived = await metrics.WaitUntilAsync(
            m => Runs(m, ProcessCluster.Small) >= 4 && Runs(m, ProcessCluster.Large) >= 6, TimeSpan.FromSeconds(15));
        Assert.True(arrived, $"No {rows} histograms with >= 4 small and >= 6 large runs arrived. Received:\n{metrics.Summary()}");
        foreach (var service in new[] { ProcessCluster.Small, ProcessCluster.Large })
        {
            var point = Assert.Single(metrics.Latest(service, rows));
            Assert.Equal(MetricKind.Histogram, point.Kind);
            Assert.Equal(2.0 * point.Count, point.Sum);
            Assert.Equal(point.Count, point.BucketCounts.Aggregate(0UL, (a, b) => a + b));
            output.WriteLine($"{service} {rows}: count {point.Count}, sum {point.Sum}");
        }
    }
}
