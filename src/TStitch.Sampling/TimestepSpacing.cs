namespace TStitch.Sampling;

/// <summary>
/// Which training timesteps a sampler with S steps visits. A model family fixes it (its manifest), so
/// stitched models share it and a run matches the reference sampler the family was published with.
/// </summary>
public enum TimestepSpacing
{
    /// <summary>
    /// DiT's respace.py: round(i (T-1)/(S-1)), evenly strided from 0 to T-1; the last step lands on
    /// alpha_bar = 1 (the clean image).
    /// </summary>
    Dit,
    /// <summary>
    /// diffusers' DDIMScheduler as Stable Diffusion v1 configures it: timestep_spacing "leading"
    /// ((S-1-i) * (T / S) + steps_offset, steps_offset 1) and set_alpha_to_one false, so the last
    /// step lands on alpha_bar[0] rather than 1, exactly as diffusers' pipelines sample SD.
    /// </summary>
    Leading,
}
