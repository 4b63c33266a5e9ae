using System.Runtime.Intrinsics;

namespace TStitch.Sampling;

/// <summary>
/// Ancestral DDPM on the respaced chain, with the fixed-small posterior variance. Learned-sigma
/// models' variance channels are ignored (see <see cref="Prediction.DropLearnedSigma"/>).
/// </summary>
public sealed class DdpmSampler(SamplingPlan plan) : Sampler(plan)
{
    protected override void Update(SamplerState state, int step, ReadOnlySpan<float> output, PredictionConverter convert, int sampleSize,
        ulong seed)
    {
        double a = Plan.AlphaBar[step], ap = Plan.AlphaBarNext[step];
        double alpha = a / ap, beta = 1 - alpha;
        double c0 = beta * Math.Sqrt(ap) / (1 - a);
        double ct = (1 - ap) * Math.Sqrt(alpha) / (1 - a);
        double variance = beta * (1 - ap) / (1 - a);
        bool addNoise = step < Plan.Steps - 1 && variance > 0;
        var z = addNoise ? Noise(state.Latents.Length, sampleSize, seed, step) : null;
        FloatLanes.Map(state.Latents, output, z, new Next(convert, c0, ct, Math.Sqrt(variance), addNoise));
    }

    /// <summary>x_next = c0 x0 + ct x_t + sd z: the posterior mean, plus its noise.</summary>
    private readonly struct Next(PredictionConverter convert, double c0, double ct, double sd, bool addNoise) : ILaneMap
    {
        double ILaneMap.Next(double xt, double output, double noise)
        {
            convert.ToEpsilonAndX0(xt, output, out _, out double x0);
            return c0 * x0 + ct * xt + (addNoise ? sd * noise : 0);
        }

        Vector256<double> ILaneMap.Next(Vector256<double> xt, Vector256<double> output, Vector256<double> noise)
        {
            convert.ToEpsilonAndX0(xt, output, out _, out var x0);
            return Vector256.Create(c0) * x0 + Vector256.Create(ct) * xt
                + (addNoise ? Vector256.Create(sd) * noise : Vector256<double>.Zero);
        }
    }
}
