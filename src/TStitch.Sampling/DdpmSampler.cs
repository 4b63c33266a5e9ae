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
        double sd = Math.Sqrt(variance);
        var x = state.Latents;
        int k = 0;
        if (FloatLanes.Enabled)
        {
            var (vC0, vCt, vSd) = (Vector256.Create(c0), Vector256.Create(ct), Vector256.Create(sd));
            Vector256<double> Next(Vector256<double> xt, Vector256<double> o, Vector256<double> noise)
            {
                convert.ToEpsilonAndX0(xt, o, out _, out var x0);
                return vC0 * x0 + vCt * xt + (addNoise ? vSd * noise : Vector256<double>.Zero);
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
            double xt = x[k];
            convert.ToEpsilonAndX0(xt, output[k], out _, out double x0);
            x[k] = (float)(c0 * x0 + ct * xt + (addNoise ? sd * z![k] : 0));
        }
    }
}
