using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// The checks of a job against its pools' models that belong to the serving layer, not the sampler
/// (<see cref="Trajectory.CheckModels"/> checks shapes, conditioning and schedules): made at submit, so a
/// job that cannot end well is refused before it runs instead of failing at its last step.
/// </summary>
public static class JobModelCheck
{
    /// <summary>The pool that runs the trajectory's last step: it holds the final latents and decodes them.</summary>
    public static PoolClient LastPool(JobSpec spec, IReadOnlyDictionary<string, PoolClient> pools) =>
        pools[spec.Schedule.ModelFor(spec.Steps - 1, spec.Steps)];

    public static void Check(JobSpec spec, IReadOnlyDictionary<string, PoolClient> pools)
    {
        if (spec.Output is ResultFormat.Png or ResultFormat.PngAndRaw)
        {
            var last = LastPool(spec, pools);
            if (last.ImageShape is null && last.Info.Channels is not (1 or 3))
                throw new InvalidRequestException("output",
                    $"Pool '{last.Name}' (model '{last.Info.Name}') makes {last.Info.Channels}-channel latents and has no decoder, so " +
                        $"they cannot be a PNG; " +
                    "ask for OUTPUT_KIND_RAW, or name a VAE decoder in the model's manifest (\"decoder\": \"vae.json\").");
        }
    }
}
