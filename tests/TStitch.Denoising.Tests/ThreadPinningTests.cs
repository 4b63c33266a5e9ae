using System.ComponentModel.DataAnnotations;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

/// <summary>
/// Denoiser:PinThreads: ONNX Runtime's worker on the second CPU this process may use, the calling thread on the first for
/// the length of a run and given its own affinity back after it, results unchanged, and a thread count the CPUs cannot
/// hold refused at start with the options named. Linux with at least two CPUs (CI has two); elsewhere there is nothing
/// to pin and these tests say so instead of passing.
/// </summary>
public class ThreadPinningTests(ZooModels zoo) : IClassFixture<ZooModels>
{
    private static IReadOnlyList<int> NeedTwoCpus()
    {
        Assert.True(OperatingSystem.IsLinux(), "thread pinning is Linux-only");
        var allowed = CpuPinning.AllowedCpus();
        Assert.True(allowed.Count >= 2, $"thread pinning needs two CPUs; this process may use {allowed.Count}");
        return allowed;
    }

    /// <summary>Thread ids of this process whose affinity is exactly <paramref name="cpu"/>.</summary>
    private static HashSet<string> ThreadsPinnedTo(int cpu) => Directory.GetDirectories("/proc/self/task")
        .Where(task => AffinityOf(task) == cpu.ToString())
        .Select(Path.GetFileName).OfType<string>().ToHashSet();

    /// <summary>A thread's allowed CPUs as /proc lists them, or null when it ended after the directory was listed
    /// (other test classes run beside this one and start and end threads).</summary>
    private static string? AffinityOf(string task)
    {
        try
        {
            return File.ReadLines(Path.Combine(task, "status"))
                .FirstOrDefault(l => l.StartsWith("Cpus_allowed_list:", StringComparison.Ordinal))?.Split(':')[1].Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static async Task<bool> NewThreadPinnedTo(int cpu, HashSet<string> before, TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        while (!ThreadsPinnedTo(cpu).Except(before).Any())
        {
            if (DateTime.UtcNow > deadline) return false;
            await Task.Delay(20);
        }
        return true;
    }

    private static DenoiseInput Call(int batch)
    {
        var latents = new float[batch * 3072];
        StepNoise.Fill(latents, 5, 0, 0);
        return new DenoiseInput(latents, Enumerable.Repeat(700, batch).ToArray(), Enumerable.Repeat(2, batch).ToArray(), 1f);
    }

    [Fact]
    public void Two_threads_put_the_caller_on_the_first_cpu_and_the_worker_on_the_second()
    {
        var allowed = NeedTwoCpus();
        var pinning = CpuPinning.For(2)!;
        Assert.Equal(allowed[0], pinning.CallerCpu);
        Assert.Equal(2, pinning.Threads);
        Assert.Equal((allowed[1] + 1).ToString(), pinning.WorkerAffinities); // ORT numbers CPUs from 1
        Assert.Null(CpuPinning.For(1)); // one thread has no worker to collide with
        Assert.Equal(allowed.Count, CpuPinning.For(0)!.Threads); // 0: one thread per CPU, as ORT's default
        var tooMany = Assert.Throws<ArgumentOutOfRangeException>(() => CpuPinning.For(allowed.Count + 1));
        Assert.Contains($"this process may use {allowed.Count}", tooMany.Message);
    }

    [Fact]
    public async Task The_caller_is_held_on_its_cpu_only_inside_the_scope()
    {
        NeedTwoCpus();
        var pinning = CpuPinning.For(2)!;
        // A thread of its own: the check reads the calling thread's affinity, which an await could change.
        var (before, inside, after) = await Task.Factory.StartNew(() =>
        {
            var b = CpuPinning.AllowedCpus();
            IReadOnlyList<int> i;
            using (CpuPinning.PinCaller(pinning)) i = CpuPinning.AllowedCpus();
            return (b, i, CpuPinning.AllowedCpus());
        }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);
        Assert.Equal([pinning.CallerCpu], inside);
        Assert.Equal(before, after);
        Assert.True(before.Count >= 2);
        using (CpuPinning.PinCaller(null)) Assert.Equal(before.Count, CpuPinning.AllowedCpus().Count); // nothing to pin: no change
    }

    [Fact]
    public async Task A_pinned_session_pins_its_worker_and_answers_the_same_bytes()
    {
        var allowed = NeedTwoCpus();
        using var free = new OnnxDenoiser(zoo.Manifest("large"), new OnnxSessionOptions { IntraOpThreads = 2 });
        var pinnedBefore = ThreadsPinnedTo(allowed[1]);
        using var pinned = new OnnxDenoiser(zoo.Manifest("large"), new OnnxSessionOptions { IntraOpThreads = 2, PinThreads = true });
        // ORT starts its worker with the session; with explicit thread counts it pins nothing itself. The worker sets
        // its own affinity when it first runs, which on a busy machine can be after the constructor returns: wait for it.
        Assert.True(await NewThreadPinnedTo(allowed[1], pinnedBefore, TimeSpan.FromSeconds(10)),
            $"no new thread of this process was pinned to CPU {allowed[1]} within 10 s of the pinned session starting");
        var expected = await free.DenoiseAsync(Call(16));
        Assert.Equal(expected, await pinned.DenoiseAsync(Call(16)));
    }

    [Fact]
    public void More_pinned_threads_than_cpus_is_refused_at_start_naming_the_options()
    {
        var allowed = NeedTwoCpus();
        var options = new DenoiserOptions { Model = "m.json", PinThreads = true, IntraOpThreads = allowed.Count + 1 };
        var problems = options.Validate(new ValidationContext(options)).ToList();
        var problem = Assert.Single(problems);
        Assert.Contains("Denoiser:PinThreads", problem.ErrorMessage);
        Assert.Contains($"Denoiser:IntraOpThreads={allowed.Count + 1}", problem.ErrorMessage);
        options.PinThreads = false;
        Assert.Empty(options.Validate(new ValidationContext(options)));
    }
}
