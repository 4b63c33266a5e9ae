using System.CommandLine;
using TStitch.Cli;

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
