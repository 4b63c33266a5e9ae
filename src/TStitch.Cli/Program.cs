using System.CommandLine;
using Spectre.Console;
using TStitch.Cli;

// Redirected output (a log file, CI) has no terminal width: Spectre would wrap the tables at 80 columns.
if (Console.IsOutputRedirected) AnsiConsole.Profile.Width = 160;

var root = new RootCommand("tstitch: T-Stitch diffusion sampling — build the model zoo, sweep the speed/quality curve, run the cluster.");
root.Subcommands.Add(ZooCommands.Create());
root.Subcommands.Add(SweepCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
root.Subcommands.Add(TStitch.Cli.Bench.BenchCommand.Create());
root.Subcommands.Add(TStitch.Cli.Bench.LoadCommand.Create());
root.Subcommands.Add(TStitch.Cli.Bench.BenchDitCommand.Create());
root.Subcommands.Add(GenerateCommand.Create());
root.Subcommands.Add(DemoCommand.Create());
return await root.Parse(args).InvokeAsync();
