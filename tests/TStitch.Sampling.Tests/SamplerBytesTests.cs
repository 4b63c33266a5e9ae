using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;
using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

/// <summary>
/// The samplers' exact bytes, pinned: every sampler, prediction kind and eta over two plans, each
/// step's latents and previous x0 hashed. The pin was taken from the two-pass samplers (eps and x0
/// staged in double arrays) before they became one vectorised pass; a change to the arithmetic that
/// moves any bit of any trajectory fails here, so the same seed gives the same image across versions.
/// </summary>
public class SamplerBytesTests
{
    private const string Pinned = "74980BC5CB47F9DCA783E60699C703EA5F2EAD895535579B61C95A8FFD4EC53B";

    [Fact]
    public void Trajectories_keep_their_exact_bytes()
    {
        var lines = new List<string>();
        foreach (var kind in new[] { SamplerKind.Ddim, SamplerKind.Ddpm, SamplerKind.DpmSolverPP2M })
        foreach (var prediction in new[] { PredictionKind.Epsilon, PredictionKind.V, PredictionKind.X0 })
        foreach (var eta in kind == SamplerKind.Ddim ? new[] { 0.0, 0.5, 1.0 } : [0.0])
        foreach (int steps in new[] { 20, 7 })
        {
            var sampler = Sampler.Create(kind, new SamplingPlan(NoiseSchedule.Linear(1000), steps), eta);
            const int batch = 3, size = 48;
            var state = sampler.Start(batch, size, 11);
            var bytes = new List<byte>();
            for (int i = 0; i < steps; i++)
            {
                // A stand-in model: keyed noise mixed with the current latents.
                var output = new float[batch * size];
                StepNoise.Fill(output, 99, i, 5);
                for (int k = 0; k < output.Length; k++) output[k] = output[k] * 0.7f + state.Latents[k] * 0.2f;
                sampler.Step(state, output, prediction, size, 11);
                bytes.AddRange(MemoryMarshal.AsBytes(state.Latents.AsSpan()).ToArray());
                if (state.PreviousX0 is { } prev) bytes.AddRange(MemoryMarshal.AsBytes(prev.AsSpan()).ToArray());
            }
            lines.Add($"{kind} {prediction} {eta.ToString(System.Globalization.CultureInfo.InvariantCulture)} {steps} " +
                $"{Convert.ToHexString(SHA256.HashData(bytes.ToArray()))}");
        }
        Assert.Equal(30, lines.Count);
        Assert.Equal(Pinned, Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join("\n", lines)))));
    }
}
