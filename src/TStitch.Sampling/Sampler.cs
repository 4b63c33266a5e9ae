namespace TStitch.Sampling;

/// <summary>
/// A sampler is a step function: (state, model output at state's step) -> state at the next step.
/// Keeping it a pure step lets a job stop after any step and resume, and lets the model that
/// produced the output change between steps (the whole point of T-Stitch).
/// </summary>
public abstract class Sampler(SamplingPlan plan)
{
    public SamplingPlan Plan { get; } = plan;

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
        _ => throw new InvalidRequestException("sampler", $"Unknown sampler '{name}'; use ddim, ddpm or dpm-solver++."),
    };

    /// <summary>The canonical name <see cref="Parse"/> reads back.</summary>
    public static string Name(SamplerKind kind) => kind switch
    {
        SamplerKind.Ddim => "ddim",
        SamplerKind.Ddpm => "ddpm",
        _ => "dpm-solver++",
    };

    /// <summary>
    /// Initial x_T ~ N(0, I), per sample from (seed, sample, <see cref="StepNoise.InitialStep"/>); drawn when
    /// the state's latents are first read.
    /// </summary>
    public SamplerState Start(int batch, int sampleSize, ulong seed) => new(() =>
    {
        var x = new float[batch * sampleSize];
        StepNoise.FillSamples(x, sampleSize, seed, StepNoise.InitialStep);
        return x;
    });

    /// <summary>Advances <paramref name="state"/> by one step given the model's output for it.</summary>
    public void Step(SamplerState state, ReadOnlySpan<float> modelOutput, PredictionKind prediction, int sampleSize, ulong seed)
    {
        int i = state.Step;
        if (i < 0 || i >= Plan.Steps)
            throw new InvalidOperationException($"The trajectory is already at step {i} of {Plan.Steps}.");
        var x = state.Latents;
        if (modelOutput.Length != x.Length)
            throw new ArgumentException($"Model output has {modelOutput.Length} values, the latent batch {x.Length}.", nameof(modelOutput));
        Update(state, i, modelOutput, new PredictionConverter(prediction, Plan.AlphaBar[i]), sampleSize, seed);
        state.Step = i + 1;
    }

    /// <summary>
    /// Moves state.Latents from <paramref name="step"/> to the next step in one pass: each value's (eps, x0)
    /// from <paramref name="convert"/>, then the sampler's update, with the same double arithmetic in the
    /// same order for every value (so results do not depend on how a batch was formed or split).
    /// </summary>
    protected abstract void Update(SamplerState state, int step, ReadOnlySpan<float> output, PredictionConverter convert, int sampleSize,
        ulong seed);

    /// <summary>Fresh N(0, I) for every sample at this step, keyed so batching cannot change it.</summary>
    protected static float[] Noise(int length, int sampleSize, ulong seed, int step)
    {
        var z = new float[length];
        StepNoise.FillSamples(z, sampleSize, seed, step);
        return z;
    }
}
