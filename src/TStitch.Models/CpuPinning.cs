using System.Runtime.InteropServices;

namespace TStitch.Models;

/// <summary>
/// Keeps an ONNX Runtime session's intra-op threads on distinct CPUs (<see cref="OnnxSessionOptions.PinThreads"/>): ORT's
/// worker threads one per CPU from the second CPU this process may use, and the thread that calls Run on the first,
/// for the length of each run. ORT's own default (intra-op threads 0) already pins its workers that way and leaves
/// the caller alone. Linux then at times puts the caller on a worker's CPU (they hand work to each other through
/// futex wake-ups, which place the woken thread beside the waker) while another CPU idles: the run goes at the speed
/// of one core until the load balancer separates them, tens of milliseconds later. Traced on the 2-core development
/// VM (docs/benchmarks.md, stop 11): a stage run's steps took 2.3-2.9 ms instead of 1.4 ms for 5-20 steps at a time.
/// Hand-written: .NET has no thread affinity API (Process.ProcessorAffinity is the process's, and on Linux only its
/// main thread's), so this calls glibc's sched_getaffinity / sched_setaffinity for the calling thread.
/// </summary>
public sealed partial class CpuPinning
{
    // cpu_set_t of 1024 CPUs, glibc's default size.
    private const int MaskWords = 16;
    private readonly ulong[] _callerMask = new ulong[MaskWords];

    /// <summary>The CPU a run's calling thread is held on (0-based, as the kernel numbers them).</summary>
    public int CallerCpu { get; }
    /// <summary>Intra-op threads of the session, the caller included.</summary>
    public int Threads { get; }
    /// <summary>ORT's "session.intra_op_thread_affinities": one CPU per worker thread, 1-based as ORT reads them.</summary>
    public string WorkerAffinities { get; }

    private CpuPinning(IReadOnlyList<int> cpus)
    {
        CallerCpu = cpus[0];
        Threads = cpus.Count;
        WorkerAffinities = string.Join(';', cpus.Skip(1).Select(cpu => cpu + 1));
        _callerMask[CallerCpu / 64] = 1UL << (CallerCpu % 64);
    }

    /// <summary>
    /// The pinning for a session of <paramref name="intraOpThreads"/> threads (0: one per CPU this process may use), or
    /// null where there is nothing to pin: not Linux, or one thread (no workers to collide with).
    /// </summary>
    public static CpuPinning? For(int intraOpThreads)
    {
        var allowed = OperatingSystem.IsLinux() ? AllowedCpus() : null;
        if (Problem(intraOpThreads, allowed) is { } problem) throw new ArgumentOutOfRangeException(nameof(intraOpThreads), problem);
        if (allowed is null) return null;
        int threads = intraOpThreads > 0 ? intraOpThreads : allowed.Count;
        return threads < 2 ? null : new CpuPinning(allowed.Take(threads).ToList());
    }

    /// <summary>Why <paramref name="intraOpThreads"/> threads cannot be pinned here (more threads than CPUs), or null.</summary>
    public static string? Problem(int intraOpThreads) =>
        Problem(intraOpThreads, OperatingSystem.IsLinux() ? AllowedCpus() : null);

    private static string? Problem(int intraOpThreads, IReadOnlyList<int>? allowed)
    {
        if (intraOpThreads < 0) return $"intra-op threads must be >= 0, got {intraOpThreads}.";
        return allowed is not null && intraOpThreads > allowed.Count
            ? $"pinning {intraOpThreads} intra-op threads needs as many CPUs; this process may use {allowed.Count} " +
                $"({string.Join(",", allowed)}). Lower the intra-op threads or turn thread pinning off."
            : null;
    }

    /// <summary>The CPUs the calling thread may run on (a container's cpuset, a taskset), in the kernel's numbering.</summary>
    public static IReadOnlyList<int> AllowedCpus()
    {
        var mask = new ulong[MaskWords];
        if (sched_getaffinity(0, MaskWords * sizeof(ulong), mask) != 0)
            throw new InvalidOperationException($"sched_getaffinity failed (errno {Marshal.GetLastPInvokeError()}).");
        return Enumerable.Range(0, MaskWords * 64).Where(cpu => (mask[cpu / 64] & (1UL << (cpu % 64))) != 0).ToList();
    }

    /// <summary>Holds the calling thread on <see cref="CallerCpu"/> until the scope is disposed (a no-op for a null pinning).</summary>
    public static CallerScope PinCaller(CpuPinning? pinning) => pinning is null ? default : pinning.Pin();

    /// <summary>The calling thread's own mask while it is pinned, one per thread: a run is never pinned inside another.</summary>
    [ThreadStatic] private static ulong[]? t_previous;

    private CallerScope Pin()
    {
        // Reused per thread rather than allocated per model run.
        var previous = t_previous ??= new ulong[MaskWords];
        // A thread whose affinity cannot be read or changed (a cpuset changed under the process) runs unpinned.
        if (sched_getaffinity(0, MaskWords * sizeof(ulong), previous) != 0) return default;
        if (sched_setaffinity(0, MaskWords * sizeof(ulong), _callerMask) != 0) return default;
        return new CallerScope(previous);
    }

    /// <summary>Gives the calling thread its affinity back: thread-pool threads must not stay pinned after the run.</summary>
    public readonly struct CallerScope : IDisposable
    {
        private readonly ulong[]? _previous;

        internal CallerScope(ulong[] previous) => _previous = previous;

        public void Dispose()
        {
            if (_previous is not null) _ = sched_setaffinity(0, MaskWords * sizeof(ulong), _previous);
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_getaffinity(int pid, nint cpusetsize, [Out] ulong[] mask);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int sched_setaffinity(int pid, nint cpusetsize, ulong[] mask);
}
