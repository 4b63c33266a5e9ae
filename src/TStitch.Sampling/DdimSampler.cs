using System.Runtime.Intrinsics;

namespace TStitch.Sampling;

/// <summary>DDIM (Song et al. 2021) with configurable eta; eta = 0 is deterministic.</summary>
public sealed class DdimSampler : Sampler
{
    public double Eta { get; }

    public DdimSampler(SamplingPlan plan, double eta = 0) : base(plan)
    {
        Eta = TrajectoryLimits.Eta(eta);
    }

    protected override void Update(SamplerState state, int step, ReadOnlySpan<float> output, PredictionConverter convert, int sampleSize,
        ulong seed)
    {
        double a = Plan.AlphaBar[step], ap = Plan.AlphaBarNext[step];
        double sigma = Eta * Math.Sqrt((1 - ap) / (1 - a)) * Math.Sqrt(1 - a / ap);
        double dirCoef = Math.Sqrt(Math.Max(0, 1 - ap - sigma * sigma));
        bool addNoise = sigma > 0 && step < Plan.Steps - 1;
        var z = addNoise ? Noise(state.Latents.Length, sampleSize, seed, step) : null;
        FloatLanes.Map(state.Latents, output, z, new Next(convert, Math.Sqrt(ap), dirCoef, sigma, addNoise));
    }

    /// <summary>x_next = sqrt(a_next) x0 + sqrt(1 - a_next - sigma^2) eps + sigma z.</summary>
    private readonly struct Next(PredictionConverter convert, double sap, double dirCoef, double sigma, bool addNoise) : ILaneMap
    {
        double ILaneMap.Next(double xt, double output, double noise)
        {
            convert.ToEpsilonAndX0(xt, output, out double eps, out double x0);
            return sap * x0 + dirCoef * eps + (addNoise ? sigma * noise : 0);
        }

        Vector256<double> ILaneMap.Next(Vector256<double> xt, Vector256<double> output, Vector256<double> noise)
        {
            convert.ToEpsilonAndX0(xt, output, out var eps, out var x0);
            return Vector256.Create(sap) * x0 + Vector256.Create(dirCoef) * eps
                + (addNoise ? Vector256.Create(sigma) * noise : Vector256<double>.Zero);
        }
    }
}
