namespace TStitch.Sampling;

/// <summary>
/// Everything a trajectory needs to continue: the next step to run, the latent batch x (B x sample
/// size, float32 as it travels and is checkpointed) and, for multistep solvers, the previous x0
/// prediction. Because the uninterrupted loop also keeps exactly this state between steps, a job
/// restored from a checkpoint continues bit-identically.
/// </summary>
public sealed class SamplerState
{
    private float[]? _latents;
    private readonly Func<float[]>? _drawLatents;

    public SamplerState(int step, float[] latents, float[]? previousX0 = null)
    {
        Step = step;
        _latents = latents;
        PreviousX0 = previousX0;
    }

    /// <summary>
    /// A trajectory's start, x_T drawn when first read. An orchestrator that hands step 0 to a pool never
    /// reads it (the replica draws the same keyed noise), and the draw costs milliseconds at batch 64.
    /// </summary>
    internal SamplerState(Func<float[]> drawLatents) => _drawLatents = drawLatents;

    public int Step { get; internal set; }
    public float[] Latents => _latents ??= _drawLatents!();
    public float[]? PreviousX0 { get; internal set; }

    /// <summary>True until the start's latents are first read (they are keyed noise of the seed until then).</summary>
    public bool IsUndrawnStart => _latents is null;

    public SamplerState Clone() => new(Step, (float[])Latents.Clone(), (float[]?)PreviousX0?.Clone());
}
