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
        var x = state.Latents;
        double sap = Math.Sqrt(ap);
        int k = 0;
        if (FloatLanes.Enabled)
        {
            var (vSap, vDir, vSigma) = (Vector256.Create(sap), Vector256.Create(dirCoef), Vector256.Create(sigma));
            Vector256<double> Next(Vector256<double> xt, Vector256<double> o, Vector256<double> noise)
            {
                convert.ToEpsilonAndX0(xt, o, out var eps, out var x0);
                return vSap * x0 + vDir * eps + (addNoise ? vSigma * noise : Vector256<double>.Zero);
            }
            for (; k <= x.Length - FloatLanes.Width; k += FloatLanes.Width)
            {
                var (xl, xh) = FloatLanes.Load(x, k);
                var (ol, oh) = FloatLanes.Load(output, k);
                var (zl, zh) = addNoise ? FloatLanes.Load(z, k) : default;
                FloatLanes.Store(x, k, Next(xl, ol, zl), Next(xh, oh, zh));
            }
        }
        for (; k < x.Length; k++)
        {
            convert.ToEpsilonAndX0(x[k], output[k], out double eps, out double x0);
            x[k] = (float)(sap * x0 + dirCoef * eps + (addNoise ? sigma * z![k] : 0));
        }
    }
}
