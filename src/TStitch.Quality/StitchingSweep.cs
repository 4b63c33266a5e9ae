using TStitch.Models;
using TStitch.Models.Zoo;
using TStitch.Sampling;

namespace TStitch.Quality;

/// <summary>The speed/quality frontier of small-then-large stitching, measured in process.</summary>
public static class StitchingSweep
{
    /// <summary>Images for labels 0, 1, 2, ... (cycling over classes) with the given schedule.</summary>
    public static async Task<float[]> SampleAsync(IReadOnlyDictionary<string, IDenoiser> models, SwitchSchedule schedule,
        SweepOptions options, CancellationToken cancellationToken = default)
    {
        var classes = models.Values.First().Info.NumClasses;
        var labels = Enumerable.Range(0, options.Samples).Select(i => i % classes).ToArray();
        var trajectory = new Trajectory(new TrajectoryRequest(labels, options.Steps, options.Sampler, schedule, options.GuidanceScale,
            options.Seed), models);
        var state = await trajectory.RunAsync(trajectory.Start(), cancellationToken: cancellationToken);
        return state.Latents;
    }

    public static async Task<IReadOnlyList<SweepPoint>> RunAsync(IReadOnlyDictionary<string, IDenoiser> models, FidProxy metric,
        IEnumerable<double> fractions, SweepOptions options, Action<SweepPoint>? onPoint = null,
        CancellationToken cancellationToken = default)
    {
        double c = models[options.Small].Info.RelativeCost / models[options.Large].Info.RelativeCost;
        var labels = Enumerable.Range(0, options.Samples).Select(i => i % metric.Classes).ToArray();
        var points = new List<SweepPoint>();
        foreach (var r in fractions)
        {
            var schedule = SwitchSchedule.SmallThenLarge(r, options.Small, options.Large);
            var samples = await SampleAsync(models, schedule, options, cancellationToken);
            int smallSteps = schedule.StepsPerModel(options.Steps).GetValueOrDefault(options.Small);
            double rEff = smallSteps / (double)options.Steps;
            var point = new SweepPoint(r, smallSteps, metric.Evaluate(samples, labels), (1 - rEff) + rEff * c);
            points.Add(point);
            onPoint?.Invoke(point);
        }
        return points;
    }

    /// <summary>
    /// Quality and latency of one schedule of any family, in process: the samples run in chunks of
    /// <see cref="SweepOptions.Batch"/> images, one trajectory after another, timed end to end.
    /// </summary>
    public static async Task<ScheduleSweepPoint> MeasureAsync(IReadOnlyDictionary<string, IDenoiser> models, FidProxy metric,
        SwitchSchedule schedule,
        SweepOptions options, CancellationToken cancellationToken = default)
    {
        var timed = schedule.ModelIds.ToDictionary(m => m, m => new TimedDenoiser(models[m]));
        var labels = Enumerable.Range(0, options.Samples).Select(i => i % metric.Classes).ToArray();
        int batch = options.Batch <= 0 ? options.Samples : Math.Min(options.Batch, options.Samples);
        var images = new List<float>();
        long start = System.Diagnostics.Stopwatch.GetTimestamp();
        for (int from = 0, chunk = 0; from < options.Samples; from += batch, chunk++)
        {
            var chunkLabels = labels[from..Math.Min(options.Samples, from + batch)];
            var request = new TrajectoryRequest(chunkLabels, options.Steps, options.Sampler, schedule, options.GuidanceScale,
                options.Seed + (ulong)chunk);
            var trajectory = new Trajectory(request, timed.ToDictionary(t => t.Key, t => (IDenoiser)t.Value));
            images.AddRange((await trajectory.RunAsync(trajectory.Start(), cancellationToken: cancellationToken)).Latents);
        }
        double ms = System.Diagnostics.Stopwatch.GetElapsedTime(start).TotalMilliseconds;
        return new ScheduleSweepPoint(schedule, metric.Evaluate(images.ToArray(), labels), ms / options.Samples,
            timed.Where(t => !double.IsNaN(t.Value.MsPerImageStep)).ToDictionary(t => t.Key, t => t.Value.MsPerImageStep));
    }

    /// <summary>Loads every model of a zoo in process.</summary>
    public static Dictionary<string, IDenoiser> LoadZoo(ModelZoo zoo, OnnxSessionOptions? options = null) =>
        zoo.ModelNames.ToDictionary(n => n, n => (IDenoiser)new OnnxDenoiser(zoo.ManifestPath(n), options));

    /// <summary>The metric for a zoo: held-out split as reference, training split for the k-NN classifier.</summary>
    public static FidProxy MetricFor(ModelZoo zoo)
    {
        var heldOut = zoo.Options.HeldOut();
        var train = zoo.Options.Train();
        return new FidProxy(heldOut.Pixels, heldOut.Labels, train.Pixels, train.Labels);
    }
}
