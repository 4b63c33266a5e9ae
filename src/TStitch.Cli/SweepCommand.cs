using System.CommandLine;
using System.Diagnostics;
using Spectre.Console;
using TStitch.Models.Zoo;
using TStitch.Quality;
using TStitch.Sampling;

namespace TStitch.Cli;

/// <summary>`tstitch sweep`: the T-Stitch curve on the zoo, r = 0, 0.1, ..., 1 small-then-large.</summary>
internal static class SweepCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var samples = new Option<int>("--samples") { Description = "Images per point (labels cycle over classes).", DefaultValueFactory = _ => 1000 };
        var steps = CliOptions.Steps();
        var sampler = CliOptions.Sampler();
        var seed = CliOptions.Seed();
        var guidance = CliOptions.Guidance();
        var small = new Option<string>("--small") { Description = "Model for the first fraction of steps.", DefaultValueFactory = _ => "small" };
        var large = new Option<string>("--large") { Description = "Model for the rest.", DefaultValueFactory = _ => "large" };
        var fractionsOpt = new Option<string>("--fractions") { Description = "Comma-separated small fractions.", DefaultValueFactory = _ => "0,0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1" };
        var command = new Command("sweep", "Measure quality (FID proxy, precision, recall, class accuracy) against the fraction of steps run by the small model.")
        {
            models, samples, steps, sampler, seed, guidance, small, large, fractionsOpt,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!, log: l => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(l)}[/]"));
            var options = new SweepOptions
            {
                Samples = parse.GetValue(samples), Steps = parse.GetValue(steps), Sampler = Sampler.Parse(parse.GetValue(sampler)!),
                Seed = parse.GetValue(seed), GuidanceScale = parse.GetValue(guidance), Small = parse.GetValue(small)!, Large = parse.GetValue(large)!,
            };
            var loaded = StitchingSweep.LoadZoo(zoo);
            using var metric = StitchingSweep.MetricFor(zoo);
            var noise = new float[options.Samples * loaded[options.Large].Info.SampleSize];
            for (int i = 0; i < options.Samples; i++) StepNoise.Fill(noise.AsSpan(i * 3072, 3072), 999, i, 0);
            var labels = Enumerable.Range(0, options.Samples).Select(i => i % metric.Classes).ToArray();
            var noiseReport = metric.Evaluate(noise, labels);
            AnsiConsole.MarkupLine($"{options.Small} -> {options.Large}, {options.Sampler} {options.Steps} steps, {options.Samples} samples, guidance {options.GuidanceScale}, seed {options.Seed}");
            AnsiConsole.MarkupLine($"reference: FD of pure noise {noiseReport.FrechetDistance:F2}; k-NN accuracy on held-out real images {metric.ReferenceClassAccuracy:F3}");
            var table = new Table().AddColumns("r", "small steps", "FD", "precision", "recall", "class acc", "compute", "speedup bound", "seconds");
            var clock = Stopwatch.StartNew();
            await AnsiConsole.Live(table).StartAsync(async _ =>
            {
                var fractions = parse.GetValue(fractionsOpt)!.Split(',').Select(f => double.Parse(f, System.Globalization.CultureInfo.InvariantCulture));
                await StitchingSweep.RunAsync(loaded, metric, fractions, options, p =>
                {
                    table.AddRow($"{p.SmallFraction:F1}", p.SmallSteps.ToString(), $"{p.Quality.FrechetDistance:F3}", $"{p.Quality.Precision:F3}",
                        $"{p.Quality.Recall:F3}", $"{p.Quality.ClassAccuracy:F3}", $"{p.RelativeCompute:F3}", $"{p.SpeedupBound:F2}x", $"{clock.Elapsed.TotalSeconds:F1}");
                }, ct);
            });
            foreach (var m in loaded.Values) (m as IDisposable)?.Dispose();
            return 0;
        });
        return command;
    }
}
