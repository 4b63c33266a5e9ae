using System.CommandLine;
using TStitch.Cli;

var root = new RootCommand("tstitch: T-Stitch diffusion sampling — build the model zoo, sweep the speed/quality curve.");
root.Subcommands.Add(ZooCommands.Create());
root.Subcommands.Add(SweepCommand.Create());
root.Subcommands.Add(SampleCommand.Create());
return await root.Parse(args).InvokeAsync();
