using System.CommandLine;
using Spectre.Console;
using TStitch.Models.Zoo;

namespace TStitch.Cli;

/// <summary>`tstitch zoo build`: makes the built-in models (seconds on 2 cores, nothing downloaded).</summary>
internal static class ZooCommands
{
    public static Command Create()
    {
        var outDir = new Option<string>("--out") { Description = "Folder to write the models into.", DefaultValueFactory = _ => "models" };
        var seed = new Option<int>("--seed") { Description = "Seed of the data set and fits.", DefaultValueFactory = _ => 1 };
        var small = new Option<int>("--small")
        {
            Description = "Mixture components per class of the small model.",
            DefaultValueFactory = _ => 2,
        };
        var @base = new Option<int>("--base") { Description = "Components per class of the base model.", DefaultValueFactory = _ => 10 };
        var large = new Option<int>("--large") { Description = "Components per class of the large model.", DefaultValueFactory = _ => 60 };
        var build = new Command("build", "Fit the small, base and large mixture denoisers and write them as ONNX + manifest.")
        {
            outDir, seed, small, @base, large,
        };
        build.SetAction(parse =>
        {
            var options = new ZooOptions
            {
                Seed = parse.GetValue(seed),
                Models = [new("small", parse.GetValue(small)), new("base", parse.GetValue(@base)), new("large", parse.GetValue(large))],
            };
            var dir = parse.GetValue(outDir)!;
            var zoo = ModelZoo.Build(dir, options, line => AnsiConsole.MarkupLine($"[grey]{Markup.Escape(line)}[/]"));
            var table = new Table().AddColumns("model", "components/class", "ms/sample", "relative cost");
            foreach (var name in zoo.ModelNames)
            {
                var m = TStitch.Models.ModelManifest.Load(zoo.ManifestPath(name));
                var spec = options.Models.First(s => s.Name == name);
                table.AddRow(name, spec.ComponentsPerClass.ToString(), $"{m.CostMsPerSample:F4}", $"{m.RelativeCost:F3}");
            }
            AnsiConsole.Write(table);
            AnsiConsole.MarkupLine($"Zoo written to [bold]{Markup.Escape(Path.GetFullPath(dir))}[/]");
            return 0;
        });
        return new Command("zoo", "The built-in model zoo.") { build };
    }
}
