namespace TStitch.Sampling;

/// <summary>
/// Everything a trajectory needs to continue: the next step to run, the latent batch x (B x sample
/// size, float32 as it travels and is checkpointed) and, for multistep solvers, the previous x0
/// prediction. Because the uninterrupted loop also keeps exactly this state between steps, a job
/// restored from a checkpoint continues bit-identically.
/// </summary>
public sealed class SamplerState(int step, float[] latents, float[]? previousX0 = null)
{
    public int Step { get; internal set; } = step;
    public float[] Latents { get; } = latents;
    public float[]? PreviousX0 { get; internal set; } = previousX0;

    public SamplerState Clone() => new(Step, (float[])Latents.Clone(), (float[]?)PreviousX0?.Clone());
}
