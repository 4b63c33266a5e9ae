using System.Runtime.Intrinsics;

namespace TStitch.Sampling;

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022), data-prediction multistep, in the VP parametrisation
/// x = alpha x0 + sigma eps with lambda = log(alpha / sigma). The final step to sigma = 0 returns
/// the data prediction, as k-diffusion's sample_dpmpp_2m does.
/// </summary>
public sealed class DpmSolverPP2MSampler(SamplingPlan plan) : Sampler(plan)
{
    private static double Lambda(double alphaBar) => 0.5 * Math.Log(alphaBar / (1 - alphaBar));

    protected override void Update(SamplerState state, int step, ReadOnlySpan<float> output, PredictionConverter convert, int sampleSize,
        ulong seed)
    {
        var x = state.Latents;
        double a = Plan.AlphaBar[step], ap = Plan.AlphaBarNext[step];
        var prev = state.PreviousX0;
        // x0 is kept as float32 (the checkpointed previous x0 is float32, so an uninterrupted run uses the same rounding).
        var x0f = new float[x.Length];
        bool last = ap >= 1.0;
        double h = last ? 0 : Lambda(ap) - Lambda(a);
        double sigmaRatio = last ? 0 : Math.Sqrt((1 - ap) / (1 - a));
        double coef = last ? 0 : -Math.Sqrt(ap) * (Math.Exp(-h) - 1);
        double w0 = 1, w1 = 0;
        if (!last && prev is not null && step > 0)
        {
            double hPrev = Lambda(a) - Lambda(Plan.AlphaBar[step - 1]);
            double r = hPrev / h;
            w0 = 1 + 1 / (2 * r);
            w1 = -1 / (2 * r);
        }
        bool usePrev = w1 != 0;
        int k = 0;
        if (FloatLanes.Enabled)
        {
            var (vSigmaRatio, vCoef, vW0, vW1) = (Vector256.Create(sigmaRatio), Vector256.Create(coef), Vector256.Create(w0),
                Vector256.Create(w1));
            for (; k <= x.Length - FloatLanes.Width; k += FloatLanes.Width)
            {
                var (xl, xh) = FloatLanes.Load(x, k);
                var (ol, oh) = FloatLanes.Load(output, k);
                convert.ToEpsilonAndX0(xl, ol, out _, out var x0l);
                convert.ToEpsilonAndX0(xh, oh, out _, out var x0h);
                FloatLanes.Store(x0f, k, x0l, x0h);
                if (last) continue;
                (x0l, x0h) = FloatLanes.Load(x0f, k); // the float32 rounding, as in the scalar loop
                var (pl, ph) = usePrev ? FloatLanes.Load(prev, k) : default;
                var dl = vW0 * x0l + (usePrev ? vW1 * pl : Vector256<double>.Zero);
                var dh = vW0 * x0h + (usePrev ? vW1 * ph : Vector256<double>.Zero);
                FloatLanes.Store(x, k, vSigmaRatio * xl + vCoef * dl, vSigmaRatio * xh + vCoef * dh);
            }
        }
        for (; k < x.Length; k++)
        {
            double xt = x[k];
            convert.ToEpsilonAndX0(xt, output[k], out _, out double x0);
            x0f[k] = (float)x0;
            if (last) continue;
            double d = w0 * x0f[k] + (usePrev ? w1 * prev![k] : 0);
            x[k] = (float)(sigmaRatio * xt + coef * d);
        }
        if (last) x0f.CopyTo(x, 0);
        state.PreviousX0 = x0f;
    }
}
