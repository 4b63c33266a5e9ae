using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using OsProcess = System.Diagnostics.Process;

namespace TStitch.Process.Tests;

/// <summary>
/// One child OS process (a service host or redis-server) with a fixed command line and environment,
/// that can be started, killed (SIGKILL), terminated (SIGTERM) and started again any number of
/// times. Its stdout and stderr go to <see cref="LogPath"/> (appended across restarts). Every wait is
/// bounded, and children still alive when the test host exits are killed.
/// </summary>
public sealed class ServiceProcess : IAsyncDisposable
{
    /// <summary>Inherited variables that would configure a service behind the test's back; children get only what the test sets.</summary>
    private static readonly string[] ScrubbedPrefixes =
        ["OTEL_", "ASPNETCORE_", "DOTNET_URLS", "URLS", "Urls", "Orchestrator__", "Denoiser__", "Logging__", "Auth__", "Kestrel__"];
    private static readonly ConcurrentDictionary<int, OsProcess> Live = new();
    private readonly Func<CancellationToken, Task<bool>> _ready;
    private readonly object _logLock = new();
    private readonly StreamWriter _log;
    private OsProcess? _process;

    static ServiceProcess()
    {
        // Last resort if the test host ends without disposing its fixtures: no orphans.
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            foreach (var p in Live.Values)
                try { p.Kill(entireProcessTree: true); } catch (Exception) { }
        };
    }

    public ServiceProcess(string name, string fileName, IEnumerable<string> arguments, IReadOnlyDictionary<string, string> environment,
        Func<CancellationToken, Task<bool>> ready, string logPath, string? workingDirectory = null)
    {
        Name = name;
        FileName = fileName;
        Arguments = arguments.ToList();
        Environment = environment;
        WorkingDirectory = workingDirectory ?? Path.GetDirectoryName(logPath)!;
        LogPath = logPath;
        _ready = ready;
        _log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite)) { AutoFlush = true };
    }

    public string Name { get; }
    public string FileName { get; }
    public IReadOnlyList<string> Arguments { get; }
    public IReadOnlyDictionary<string, string> Environment { get; }
    public string WorkingDirectory { get; }
    public string LogPath { get; }
    /// <summary>How many times the process was started.</summary>
    public int Starts { get; private set; }
    public int? Pid => _process?.Id;
    public bool IsRunning => _process is { HasExited: false };
    public int? ExitCode => _process is { HasExited: true } p ? p.ExitCode : null;

    /// <summary>Starts the process and waits until the readiness probe holds; throws <see cref="ServiceStartException"/> with the log
    /// if it exits or stays unready past <paramref name="timeout"/>.</summary>
    public async Task StartAsync(TimeSpan timeout, CancellationToken cancellationToken = default)
    {
        if (IsRunning) throw new InvalidOperationException($"{Name} is already running (pid {Pid}).");
        var info = new ProcessStartInfo(FileName)
        {
            UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, WorkingDirectory = WorkingDirectory,
        };
        foreach (var arg in Arguments) info.ArgumentList.Add(arg);
        foreach (var key in info.Environment.Keys
            .Where(k => ScrubbedPrefixes.Any(p => k.StartsWith(p, StringComparison.OrdinalIgnoreCase))).ToList())
            info.Environment.Remove(key);
        foreach (var (key, value) in Environment) info.Environment[key] = value;

        Starts++;
        Log($"===== {Name} start #{Starts} at {DateTime.Now:HH:mm:ss.fff}: {FileName} {string.Join(' ', Arguments)}");
        foreach (var (key, value) in Environment.OrderBy(e => e.Key)) Log($"=====   {key}={value}");
        var process = new OsProcess { StartInfo = info, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) Log(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) Log("[stderr] " + e.Data); };
        process.Start();
        Live[process.Id] = process;
        process.Exited += (_, _) => Live.TryRemove(process.Id, out _);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;

        var clock = Stopwatch.StartNew();
        while (true)
        {
            if (process.HasExited)
                throw new ServiceStartException($"{Name} exited with code {process.ExitCode} during start-up.\n{Describe()}");
            bool ready = false;
            using (var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken))
            {
                attempt.CancelAfter(TimeSpan.FromSeconds(3));
                try { ready = await _ready(attempt.Token); }
                catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested) { }
            }
            if (ready)
            {
                Log($"===== {Name} ready after {clock.Elapsed.TotalSeconds:F1} s (pid {process.Id})");
                return;
            }
            if (clock.Elapsed > timeout)
            {
                Kill();
                throw new ServiceStartException($"{Name} was not ready within {timeout.TotalSeconds:F0} s.\n{Describe()}");
            }
            await Task.Delay(100, cancellationToken);
        }
    }

    /// <summary>kill -9 of the process (and any children); waits (bounded) until it is gone. No-op if not running.</summary>
    public void Kill()
    {
        var process = _process;
        if (process is null || process.HasExited) return;
        try { process.Kill(entireProcessTree: true); }
        catch (InvalidOperationException) { } // exited meanwhile
        if (!process.WaitForExit(10_000))
            throw new TimeoutException($"{Name} (pid {process.Id}) did not exit within 10 s of SIGKILL.");
        Live.TryRemove(process.Id, out _);
        Log($"===== {Name} killed (SIGKILL) at {DateTime.Now:HH:mm:ss.fff}");
    }

    /// <summary>SIGTERM (a graceful stop, as `docker stop` sends), then SIGKILL if it is still running after <paramref name="grace"/>.
    /// Returns whether it stopped by itself.</summary>
    public async Task<bool> TerminateAsync(TimeSpan grace)
    {
        var process = _process;
        if (process is null || process.HasExited) return true;
        Log($"===== {Name} SIGTERM at {DateTime.Now:HH:mm:ss.fff}");
        _ = SendSignal(process.Id, 15);
        using var timeout = new CancellationTokenSource(grace);
        try
        {
            await process.WaitForExitAsync(timeout.Token);
            Log($"===== {Name} exited with code {process.ExitCode}");
            return true;
        }
        catch (OperationCanceledException)
        {
            Kill();
            return false;
        }
    }

    /// <summary>The whole log so far (all starts).</summary>
    public string ReadLog()
    {
        lock (_logLock)
        {
            using var stream = new FileStream(LogPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
            return new StreamReader(stream).ReadToEnd();
        }
    }

    /// <summary>Name, state and the last <paramref name="lines"/> lines of the log, for failure messages.</summary>
    public string Describe(int lines = 80)
    {
        var log = ReadLog().Split('\n');
        var state = IsRunning ? $"running (pid {Pid})" : _process is null ? "never started" : $"exited (code {ExitCode})";
        return $"--- {Name}: {state}; log {LogPath} (last {Math.Min(lines, log.Length)} lines) ---\n" +
            $"{string.Join('\n', log.TakeLast(lines))}";
    }

    private void Log(string line)
    {
        lock (_logLock)
        {
            try { _log.WriteLine(line); }
            catch (ObjectDisposedException) { } // output after dispose
        }
    }

    [DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int SendSignal(int pid, int signal);

    public ValueTask DisposeAsync()
    {
        try { Kill(); }
        finally
        {
            lock (_logLock) _log.Dispose();
            _process?.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
