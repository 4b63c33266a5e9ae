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
        var x0f = new float[x.Length];
        if (ap >= 1.0)
        {
            for (int k = 0; k < x.Length; k++)
            {
                convert.ToEpsilonAndX0(x[k], output[k], out _, out double x0);
                x0f[k] = (float)x0;
            }
            x0f.CopyTo(x, 0);
        }
        else
        {
            double h = Lambda(ap) - Lambda(a);
            double sigmaRatio = Math.Sqrt((1 - ap) / (1 - a));
            double coef = -Math.Sqrt(ap) * (Math.Exp(-h) - 1);
            double w0 = 1, w1 = 0;
            if (prev is not null && step > 0)
            {
                double hPrev = Lambda(a) - Lambda(Plan.AlphaBar[step - 1]);
                double r = hPrev / h;
                w0 = 1 + 1 / (2 * r);
                w1 = -1 / (2 * r);
            }
            for (int k = 0; k < x.Length; k++)
            {
                double xt = x[k];
                convert.ToEpsilonAndX0(xt, output[k], out _, out double x0);
                // Checkpointed previous x0 is float32, so the uninterrupted run uses the same rounding.
                x0f[k] = (float)x0;
                double d = w0 * x0f[k] + (w1 != 0 ? w1 * prev![k] : 0);
                x[k] = (float)(sigmaRatio * xt + coef * d);
            }
        }
        state.PreviousX0 = x0f;
    }
}
