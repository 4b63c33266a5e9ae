using System.Buffers;

namespace TStitch.Sampling;

public enum SamplerKind { Ddim, Ddpm, DpmSolverPP2M }

/// <summary>
/// A sampler is a step function: (state, model output at state's step) -> state at the next step.
/// Keeping it a pure step lets a job stop after any step and resume, and lets the model that
/// produced the output change between steps (the whole point of T-Stitch).
/// </summary>
public abstract class Sampler(SamplingPlan plan)
{
    public SamplingPlan Plan { get; } = plan;
    public abstract SamplerKind Kind { get; }

    public static Sampler Create(SamplerKind kind, SamplingPlan plan, double eta = 0) => kind switch
    {
        SamplerKind.Ddim => new DdimSampler(plan, eta),
        SamplerKind.Ddpm => new DdpmSampler(plan),
        SamplerKind.DpmSolverPP2M => new DpmSolverPP2MSampler(plan),
        _ => throw new ArgumentOutOfRangeException(nameof(kind), $"Unknown sampler {kind}."),
    };

    public static SamplerKind Parse(string name) => name.Trim().ToLowerInvariant().Replace("-", "").Replace("_", "") switch
    {
        "ddim" => SamplerKind.Ddim,
        "ddpm" => SamplerKind.Ddpm,
        "dpmsolver++" or "dpmsolverpp" or "dpmsolverpp2m" or "dpmpp2m" or "dpm++2m" or "dpmsolver++2m" => SamplerKind.DpmSolverPP2M,
        _ => throw new ArgumentException($"Unknown sampler '{name}'; use ddim, ddpm or dpm-solver++.", nameof(name)),
    };

    /// <summary>Initial x_T ~ N(0, I), drawn per sample from (seed, sample, <see cref="StepNoise.InitialStep"/>).</summary>
    public SamplerState Start(int batch, int sampleSize, ulong seed)
    {
        var x = new float[batch * sampleSize];
        for (int b = 0; b < batch; b++)
            StepNoise.Fill(x.AsSpan(b * sampleSize, sampleSize), seed, b, StepNoise.InitialStep);
        return new SamplerState(0, x);
    }

    /// <summary>Advances <paramref name="state"/> by one step given the model's output for it.</summary>
    public void Step(SamplerState state, ReadOnlySpan<float> modelOutput, PredictionKind prediction, int sampleSize, ulong seed)
    {
        int i = state.Step;
        if (i < 0 || i >= Plan.Steps)
            throw new InvalidOperationException($"The trajectory is already at step {i} of {Plan.Steps}.");
        var x = state.Latents;
        if (modelOutput.Length != x.Length)
            throw new ArgumentException($"Model output has {modelOutput.Length} values, the latent batch {x.Length}.", nameof(modelOutput));
        // Pooled: at batch 16 each buffer is ~400 KB, and fresh ones every step would churn the large-object heap.
        var eps = ArrayPool<double>.Shared.Rent(x.Length);
        var x0 = ArrayPool<double>.Shared.Rent(x.Length);
        try
        {
            Prediction.ToEpsilonAndX0(prediction, Plan.AlphaBar[i], x, modelOutput, eps, x0);
            Update(state, i, eps, x0, sampleSize, seed);
        }
        finally
        {
            ArrayPool<double>.Shared.Return(eps);
            ArrayPool<double>.Shared.Return(x0);
        }
        state.Step = i + 1;
    }

    protected abstract void Update(SamplerState state, int step, double[] eps, double[] x0, int sampleSize, ulong seed);

    /// <summary>Fresh N(0, I) for every sample at this step, keyed so batching cannot change it.</summary>
    protected static float[] Noise(int length, int sampleSize, ulong seed, int step)
    {
        var z = new float[length];
        for (int b = 0; b < length / sampleSize; b++)
            StepNoise.Fill(z.AsSpan(b * sampleSize, sampleSize), seed, b, step);
        return z;
    }
}

/// <summary>DDIM (Song et al. 2021) with configurable eta; eta = 0 is deterministic.</summary>
public sealed class DdimSampler : Sampler
{
    public double Eta { get; }

    public DdimSampler(SamplingPlan plan, double eta = 0) : base(plan)
    {
        if (double.IsNaN(eta) || eta < 0 || eta > 1)
            throw new ArgumentOutOfRangeException(nameof(eta), $"eta must be in [0, 1], got {eta}.");
        Eta = eta;
    }

    public override SamplerKind Kind => SamplerKind.Ddim;

    protected override void Update(SamplerState state, int step, double[] eps, double[] x0, int sampleSize, ulong seed)
    {
        double a = Plan.AlphaBar[step], ap = Plan.AlphaBarNext[step];
        double sigma = Eta * Math.Sqrt((1 - ap) / (1 - a)) * Math.Sqrt(1 - a / ap);
        double dirCoef = Math.Sqrt(Math.Max(0, 1 - ap - sigma * sigma));
        bool addNoise = sigma > 0 && step < Plan.Steps - 1;
        var z = addNoise ? Noise(state.Latents.Length, sampleSize, seed, step) : null;
        var x = state.Latents;
        double sap = Math.Sqrt(ap);
        for (int k = 0; k < x.Length; k++)
            x[k] = (float)(sap * x0[k] + dirCoef * eps[k] + (addNoise ? sigma * z![k] : 0));
    }
}

/// <summary>
/// Ancestral DDPM on the respaced chain, with the fixed-small posterior variance. Learned-sigma
/// models' variance channels are ignored (see <see cref="Prediction.DropLearnedSigma"/>).
/// </summary>
public sealed class DdpmSampler(SamplingPlan plan) : Sampler(plan)
{
    public override SamplerKind Kind => SamplerKind.Ddpm;

    protected override void Update(SamplerState state, int step, double[] eps, double[] x0, int sampleSize, ulong seed)
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
        for (int k = 0; k < x.Length; k++)
            x[k] = (float)(c0 * x0[k] + ct * x[k] + (addNoise ? sd * z![k] : 0));
    }
}

/// <summary>
/// DPM-Solver++(2M) (Lu et al. 2022), data-prediction multistep, in the VP parametrisation
/// x = alpha x0 + sigma eps with lambda = log(alpha / sigma). The final step to sigma = 0 returns
/// the data prediction, as k-diffusion's sample_dpmpp_2m does.
/// </summary>
public sealed class DpmSolverPP2MSampler(SamplingPlan plan) : Sampler(plan)
{
    public override SamplerKind Kind => SamplerKind.DpmSolverPP2M;

    private static double Lambda(double alphaBar) => 0.5 * Math.Log(alphaBar / (1 - alphaBar));

    protected override void Update(SamplerState state, int step, double[] eps, double[] x0, int sampleSize, ulong seed)
    {
        var x = state.Latents;
        double a = Plan.AlphaBar[step], ap = Plan.AlphaBarNext[step];
        var prev = state.PreviousX0;
        var x0f = new float[x.Length];
        for (int k = 0; k < x.Length; k++) x0f[k] = (float)x0[k];
        if (ap >= 1.0)
        {
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
                // Checkpointed previous x0 is float32, so the uninterrupted run uses the same rounding.
                double d = w0 * x0f[k] + (w1 != 0 ? w1 * prev![k] : 0);
                x[k] = (float)(sigmaRatio * x[k] + coef * d);
            }
        }
        state.PreviousX0 = x0f;
    }
}
