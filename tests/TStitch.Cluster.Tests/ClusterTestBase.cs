using Grpc.Core;
using TStitch.Models;
using TStitch.Orchestration;
using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Cluster.Tests;

public abstract class ClusterTestBase(ClusterFixture cluster)
{
    protected ClusterFixture Cluster { get; } = cluster;

    protected static GenerateRequest Request(double smallFraction = 0.4, int steps = 50, string? jobId = null,
        OutputKind output = OutputKind.PngAndRaw, ulong seed = 1, params int[] labels)
    {
        var r = new GenerateRequest
            { Steps = steps, SmallFraction = smallFraction, Seed = seed, Sampler = "ddim", Output = output, JobId = jobId ?? "" };
        r.ClassLabels.AddRange(labels.Length == 0 ? [0, 3, 7] : labels);
        return r;
    }

    /// <summary>
    /// A job long enough to be interrupted even on a fast machine: 1000 steps of 32 images with guidance (twice the rows),
    /// about two seconds here.
    /// </summary>
    protected static GenerateRequest GuidedLongJob(string jobId, double smallFraction = 0.4)
    {
        var request = Request(smallFraction, 1000, jobId, labels: Enumerable.Range(0, 32).Select(i => i % 10).ToArray());
        request.GuidanceScale = 4;
        return request;
    }

    /// <summary>An orchestrator configuration with the fixture's two pools, for mapping requests as the orchestrator does.</summary>
    protected static OrchestratorOptions MappingOptions => new() { Pools = { ["small"] = "http://small", ["large"] = "http://large" } };

    /// <summary>The per-step run mode (one Denoise call per step) instead of the default stage runs.</summary>
    protected const string StepMode = "--Orchestrator:RunMode=step";

    protected static string NewJobId() => "test-" + Guid.NewGuid().ToString("N");

    /// <summary>The same request run by the core library in process, with the same models.</summary>
    protected Task<float[]> InProcessAsync(GenerateRequest request) => LibraryBytes.ComputeAsync(Cluster.ZooDirectory, request);

    protected static float[] Samples(GenerateResult result) => result.Samples.ToFloats("samples");

    /// <summary>Reads the progress stream until <paramref name="untilStep"/> steps are done.</summary>
    protected static async Task<AsyncServerStreamingCall<GenerateEvent>> StreamUntilStepAsync(Orchestrator.OrchestratorClient client,
        GenerateRequest request, int untilStep, CancellationToken cancellationToken = default)
    {
        var call = client.GenerateStream(request, cancellationToken: cancellationToken);
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
            if (call.ResponseStream.Current.Progress?.Step >= untilStep) return call;
        throw new InvalidOperationException($"The stream ended before step {untilStep}.");
    }

    protected async Task<Job> WaitForAsync(Orchestrator.OrchestratorClient client, string jobId, Func<Job, bool> done,
        int timeoutMs = 30000)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            Job? job = null;
            try { job = await client.GetJobAsync(new GetJobRequest { JobId = jobId }); }
            catch (RpcException ex) when (ex.StatusCode == StatusCode.NotFound) { } // not created yet
            if (job is not null && done(job)) return job;
            if (clock.ElapsedMilliseconds > timeoutMs)
                throw new TimeoutException($"Job {jobId} is still {job?.Status.ToString() ?? "not created"} at step {job?.Step}.");
            await Task.Delay(50);
        }
    }

    protected static void AssertPng(byte[] png, int width, int height)
    {
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G', 0x0D, 0x0A, 0x1A, 0x0A }, png[..8]);
        Assert.Equal(width, (png[16] << 24) | (png[17] << 16) | (png[18] << 8) | png[19]);
        Assert.Equal(height, (png[20] << 24) | (png[21] << 16) | (png[22] << 8) | png[23]);
        // The image data must inflate to one filter byte plus RGB per pixel per row.
        int idat = FindChunk(png, "IDAT", out int length);
        using var z = new System.IO.Compression.ZLibStream(new MemoryStream(png, idat, length),
            System.IO.Compression.CompressionMode.Decompress);
        using var raw = new MemoryStream();
        z.CopyTo(raw);
        Assert.Equal(height * (1 + width * 3), raw.Length);
    }

    private static int FindChunk(byte[] png, string type, out int length)
    {
        for (int i = 8; i + 8 <= png.Length;)
        {
            int len = (png[i] << 24) | (png[i + 1] << 16) | (png[i + 2] << 8) | png[i + 3];
            if (System.Text.Encoding.ASCII.GetString(png, i + 4, 4) == type) { length = len; return i + 8; }
            i += 12 + len;
        }
        throw new InvalidDataException($"PNG has no {type} chunk.");
    }
}
