using TStitch.Contracts;
using TStitch.Models;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Tests.Shared;

/// <summary>
/// What the library computes for a request in process (no cluster): the orchestrator's own request
/// mapping, then a <see cref="Trajectory"/> over the zoo's ONNX models. A job must end with these bytes
/// however its steps were spread over processes. Shared by the cluster and process tests (linked source).
/// </summary>
public static class LibraryBytes
{
    private static readonly OrchestratorOptions Mapping = new() { Pools = { ["small"] = "http://small", ["large"] = "http://large" } };

    public static async Task<float[]> ComputeAsync(string zooDirectory, GenerateRequest request)
    {
        using var small = new OnnxDenoiser(Path.Combine(zooDirectory, "small.json"));
        using var large = new OnnxDenoiser(Path.Combine(zooDirectory, "large.json"));
        var trajectory = new Trajectory(JobRequestMapping.ToJob(request, Mapping).Spec.ToTrajectory(),
            new Dictionary<string, IDenoiser> { ["small"] = small, ["large"] = large });
        return (await trajectory.RunAsync(trajectory.Start())).Latents;
    }

    /// <summary>Bit for bit (not within a tolerance): the same steps on the same models give the same floats.</summary>
    public static void AssertIdentical(float[] expected, float[] actual, string what)
    {
        Assert.Equal(expected.Length, actual.Length);
        int first = Enumerable.Range(0, expected.Length)
            .FirstOrDefault(i => BitConverter.SingleToInt32Bits(expected[i]) != BitConverter.SingleToInt32Bits(actual[i]), -1);
        Assert.True(first < 0,
            $"{what}: value {first} is {(first < 0 ? 0 : actual[first])}, the library computes {(first < 0 ? 0 : expected[first])}.");
    }
}
