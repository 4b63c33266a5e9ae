using System.Diagnostics;

namespace TStitch.Export.Tests;

/// <summary>Runs the Python side (tools/export) as a child process, the way CI and users do.</summary>
public static class PythonTool
{
    /// <summary>Debian's interpreter, where apt's python3-torch lives (a pyenv python3 on PATH has no torch).
    /// TSTITCH_PYTHON overrides.</summary>
    public static string Interpreter => Environment.GetEnvironmentVariable("TSTITCH_PYTHON") is { Length: > 0 } p ? p : "/usr/bin/python3";

    public static string RepoRoot { get; } = FindRepoRoot();

    public static string ExportTool(string file) => Path.Combine(RepoRoot, "tools", "export", file);

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public override string ToString() => $"exit code {ExitCode}\nstdout:\n{Stdout}\nstderr:\n{Stderr}";
    }

    public static Result Run(string fileName, params string[] args)
    {
        var psi = new ProcessStartInfo(fileName) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["PYTHON"] = Interpreter;
        // Tracer warnings from torch.onnx would bury the messages the tests look for.
        psi.Environment["PYTHONWARNINGS"] = "ignore";
        using var process = Process.Start(psi) ?? throw new InvalidOperationException($"Could not start {fileName}.");
        // Read both pipes concurrently so neither fills up and blocks the child.
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(TimeSpan.FromMinutes(3)))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{fileName} {string.Join(' ', args)} did not finish within 3 minutes.");
        }
        return new Result(process.ExitCode, stdout.Result, stderr.Result);
    }

    public static Result Python(params string[] args) => Run(Interpreter, args);

    /// <summary>Fails (never skips) when torch is not importable: these tests exist to exercise it.</summary>
    public static void RequireTorch()
    {
        Result r;
        try { r = Python("-c", "import torch, onnx"); }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                $"Cannot run '{Interpreter}' ({e.Message}). " +
                "Run tools/export/install.sh (apt: python3-torch python3-onnx python3-numpy) or set TSTITCH_PYTHON.", e);
        }
        if (r.ExitCode != 0)
            throw new InvalidOperationException(
                $"'{Interpreter}' cannot import torch/onnx, which the export tests need. " +
                $"Run tools/export/install.sh (apt: python3-torch python3-onnx python3-numpy) or set TSTITCH_PYTHON.\n{r.Stderr}");
    }

    private static string FindRepoRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "TStitch.sln")))
                return dir.FullName;
        throw new InvalidOperationException($"No TStitch.sln above {AppContext.BaseDirectory}.");
    }
}
