using System.CommandLine;
using Spectre.Console;
using TStitch.Imaging;
using TStitch.Models.Zoo;
using TStitch.Quality;
using TStitch.Sampling;

namespace TStitch.Cli;

/// <summary>`tstitch sample`: stitched sampling in this process (no cluster), written as a PNG grid.</summary>
internal static class SampleCommand
{
    public static Command Create()
    {
        var models = CliOptions.Models();
        var perClass = new Option<int>("--per-class") { Description = "Images per class.", DefaultValueFactory = _ => 8 };
        var steps = CliOptions.Steps();
        var sampler = CliOptions.Sampler();
        var schedule = new Option<string>("--schedule")
        {
            Description = "Stages as model:fraction, e.g. small:0.4,large:0.6.",
            DefaultValueFactory = _ => "small:0.4,large:0.6",
        };
        var seed = CliOptions.Seed();
        var guidance = CliOptions.Guidance();
        var output = new Option<string>("--out") { DefaultValueFactory = _ => "samples.png" };
        var command = new Command("sample", "Generate a grid of stitched samples in process and write it as PNG.")
        {
            models, perClass, steps, sampler, schedule, seed, guidance, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            var zoo = ModelZoo.OpenOrBuild(parse.GetValue(models)!);
            var loaded = StitchingSweep.LoadZoo(zoo);
            var info = loaded.Values.First().Info;
            int n = parse.GetValue(perClass);
            // Row-major grid with one column per class.
            var labels = Enumerable.Range(0, n * info.NumClasses).Select(i => i % info.NumClasses).ToArray();
            var request = new TrajectoryRequest(labels, parse.GetValue(steps), Sampler.Parse(parse.GetValue(sampler)!),
                ParseSchedule(parse.GetValue(schedule)!), parse.GetValue(guidance), parse.GetValue(seed));
            var trajectory = new Trajectory(request, loaded);
            var state = await trajectory.RunAsync(trajectory.Start(), cancellationToken: ct);
            var png = ImageGrid.ToPng(state.Latents, labels.Length, info.Channels, info.Height, info.Width, info.NumClasses);
            await File.WriteAllBytesAsync(parse.GetValue(output)!, png, ct);
            AnsiConsole.MarkupLine($"{labels.Length} images ({request.Schedule}) written to " +
                $"[bold]{Markup.Escape(parse.GetValue(output)!)}[/]");
            return 0;
        });
        return command;
    }

    public static SwitchSchedule ParseSchedule(string text) =>
        new(StageText.Parse(text).Select(stage => new SwitchStage(stage.Model, stage.Fraction)));
}
