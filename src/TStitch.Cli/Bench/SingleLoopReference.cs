using System.Diagnostics;
using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Sampling;

namespace TStitch.Cli.Bench;

/// <summary>
/// `load`'s third in-process reference: the same jobs stepped by one loop, with no task per job. Each
/// pass over the active jobs runs, per model, one merged ONNX Runtime run over every job whose next step
/// uses that model, then each job's sampler step on its slice of the output; a finished job's slot takes
/// the next job. Slot k starts its first job after k x steps / slots passes, so the jobs are spread
/// over the trajectory as under steady traffic (started together they would stay in lockstep, one model
/// and one full batch per pass: the ceiling cut into jobs). It is what a replica-level scheduler (all of
/// a pool's stage runs stepped as one batch) could reach, measured next to the per-job design through the
/// batchers.
/// </summary>
internal static class SingleLoopReference
{
    private sealed record Job(Trajectory Trajectory, SamplerState State, int[] Labels);

    /// <summary>
    /// Images/s (median of three passes after a warm-up pass) of <paramref name="total"/> jobs with the labels
    /// <paramref name="labelsOf"/> gives each, <paramref name="concurrent"/> at a time.
    /// </summary>
    public static double Run(ModelZoo zoo, OnnxSessionOptions session, int steps, double smallFraction, int concurrent, int total,
        Func<int, int[]> labelsOf, CancellationToken ct)
    {
        using var small = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Small), session);
        using var large = new OnnxDenoiser(zoo.ManifestPath(ModelZoo.Large), session);
        var models = new Dictionary<string, OnnxDenoiser> { [ModelZoo.Small] = small, [ModelZoo.Large] = large };
        var denoisers = models.ToDictionary(m => m.Key, m => (IDenoiser)m.Value);
        var schedule = SwitchSchedule.SmallThenLarge(smallFraction, ModelZoo.Small, ModelZoo.Large);
        var inputs = new FloatBuffers();
        double Pass()
        {
            int next = 0, images = 0;
            Job? Start()
            {
                if (next >= total) return null;
                int i = ++next;
                var labels = labelsOf(i);
                var trajectory = new Trajectory(new TrajectoryRequest(labels, steps, SamplerKind.Ddim, schedule, 1f, (ulong)i), denoisers);
                return new Job(trajectory, trajectory.Start(), labels);
            }
            var active = new List<Job>();
            int pass = 0, slotsStarted = 0;
            var clock = Stopwatch.StartNew();
            while (active.Count > 0 || slotsStarted < concurrent)
            {
                ct.ThrowIfCancellationRequested();
                for (; slotsStarted < concurrent && slotsStarted * steps / concurrent <= pass; slotsStarted++)
                    if (Start() is { } first) active.Add(first);
                pass++;
                foreach (var (id, model) in models)
                {
                    var cohort = active.Where(j => j.Trajectory.ModelAt(j.State.Step) == id).ToList();
                    if (cohort.Count > 0) StepTogether(cohort, model, inputs);
                }
                for (int k = active.Count - 1; k >= 0; k--)
                {
                    if (active[k].State.Step < steps) continue;
                    images += active[k].Labels.Length;
                    active.RemoveAt(k);
                    if (Start() is { } job) active.Add(job);
                }
            }
            return images / clock.Elapsed.TotalSeconds;
        }
        Pass(); // warm-up, as long as a measured pass
        return Stats.Median([Pass(), Pass(), Pass()]);
    }

    /// <summary>One merged model run for <paramref name="cohort"/>'s current steps, then each job's sampler step on its rows.</summary>
    private static void StepTogether(List<Job> cohort, OnnxDenoiser model, FloatBuffers inputs)
    {
        int sampleSize = model.Info.SampleSize, rows = cohort.Sum(j => j.Labels.Length), row = 0;
        var latents = inputs.Take(rows * sampleSize);
        var timesteps = new int[rows];
        var labels = new int[rows];
        foreach (var job in cohort)
        {
            job.State.Latents.CopyTo(latents, row * sampleSize);
            Array.Fill(timesteps, job.Trajectory.Sampler.Plan.Timesteps[job.State.Step], row, job.Labels.Length);
            job.Labels.CopyTo(labels, row);
            row += job.Labels.Length;
        }
        var output = model.Run(new DenoiseInput(latents, timesteps, labels, 1f));
        inputs.Return(latents);
        row = 0;
        foreach (var job in cohort)
        {
            var mine = output.AsSpan(row * sampleSize, job.Labels.Length * sampleSize);
            job.Trajectory.Sampler.Step(job.State, mine, model.Info.Prediction, sampleSize, job.Trajectory.Request.Seed);
            row += job.Labels.Length;
        }
        model.Recycle(output);
    }
}
