using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using TStitch.Cli.Bench;
using TStitch.Contracts;
using TStitch.Models.Zoo;
using TStitch.Orchestration;
using TStitch.Orchestration.Frontier;
using TStitch.Quality;

namespace TStitch.Cli.Tests;

/// <summary>
/// The adaptive load benchmark's logic without a cluster: what each mode configures and sends (through
/// the orchestrator's own option binding and request mapping), the arrivals both replay, and that the
/// reported numbers come from the measured jobs' own samples and latencies.
/// </summary>
public sealed class AdaptiveLoadTests : IDisposable
{
    private readonly string _profile = Path.Combine(Path.GetTempPath(), $"tstitch-cli-profile-{Guid.NewGuid():N}.json");

    public AdaptiveLoadTests()
    {
        double[] fd = [0.38, 0.38, 0.40, 0.49, 0.75];
        var points = fd.Select((f, i) => new FrontierPoint
        {
            Stages = [new("small", i / 10.0), new("large", 1 - i / 10.0)], Fd = f, Precision = 0.9, Recall = 0.4, ClassAccuracy = 0.7,
            LatencyMsPerImage = 10 - i,
        });
        File.WriteAllText(_profile, new FrontierProfile
        {
            Family = "test", Sampler = "ddim", Steps = 50, Samples = 100, Batch = 4, MeasuredOn = "test",
            StepMsPerImage = new() { ["small"] = 0.05, ["large"] = 0.2 }, Points = ParetoFront.Mark(points),
        }.ToJson());
    }

    private AdaptiveLoadSettings Settings(double worst = 0.3) => new(TargetMs: 400, _profile, Images: 4, Steps: 50, Seconds: 60,
        WarmupSeconds: 10, Overload: 1.3, MaxRunningJobs: 16, WorstSchedule: worst, Rounds: 1, ArrivalSeed: 1, CapacitySeconds: 6);

    /// <summary>The orchestrator a mode's settings make (built, not started: its options bound and validated as at start).</summary>
    private static WebApplication Orchestrator(LoadMode mode) => OrchestratorApp.Create(
        ["--urls=http://127.0.0.1:0", "--Orchestrator:Pools:small=http://127.0.0.1:1", "--Orchestrator:Pools:large=http://127.0.0.1:2",
            .. LoopbackClusterQuiet, .. mode.OrchestratorArgs]);

    private static readonly string[] LoopbackClusterQuiet = TStitch.LocalCluster.LoopbackCluster.QuietLogging;

    [Fact]
    public async Task Fixed_sends_all_large_that_nothing_shifts_and_adaptive_leaves_the_schedule_to_a_controller_that_shifts_it()
    {
        var settings = Settings();
        await using var fixedApp = Orchestrator(AdaptiveLoadSetup.Fixed(settings));
        await using var adaptiveApp = Orchestrator(AdaptiveLoadSetup.Adaptive(settings));
        var fixedOptions = fixedApp.Services.GetRequiredService<IOptions<OrchestratorOptions>>().Value;
        var adaptiveOptions = adaptiveApp.Services.GetRequiredService<IOptions<OrchestratorOptions>>().Value;

        // Same slots on both sides; only the adaptive side has a target and a profile.
        Assert.Equal(16, fixedOptions.MaxRunningJobs);
        Assert.Equal(16, adaptiveOptions.MaxRunningJobs);
        Assert.False(fixedApp.Services.GetRequiredService<LoadController>().Enabled);
        Assert.True(adaptiveApp.Services.GetRequiredService<LoadController>().Enabled);
        Assert.Equal(TimeSpan.FromMilliseconds(400), adaptiveOptions.LatencyTarget);
        Assert.Equal(0, adaptiveOptions.DefaultSmallFraction);
        Assert.Equal(4, adaptiveOptions.ControlReferenceImages);
        Assert.Equal(0.3, adaptiveOptions.WorstSchedule);

        // Both modes send job i with the same labels and seed; only the schedule field differs.
        var fixedMode = AdaptiveLoadSetup.Fixed(settings);
        var adaptiveMode = AdaptiveLoadSetup.Adaptive(settings);
        var a = fixedMode.Request(7, 4, 50);
        var b = adaptiveMode.Request(7, 4, 50);
        Assert.Equal(GenerateRequest.SwitchScheduleOneofCase.SmallFraction, a.SwitchScheduleCase);
        Assert.Equal(GenerateRequest.SwitchScheduleOneofCase.None, b.SwitchScheduleCase);
        b.SmallFraction = 0;
        Assert.Equal(a, b);
        Assert.Equal(OutputKind.Raw, a.Output);

        // The adaptive orchestrator's chooser under a controller that saw a long queue: shifted up to the
        // worst schedule one point per tick; idle, the default is all-large.
        var chooser = adaptiveApp.Services.GetRequiredService<ScheduleChooser>();
        var time = new FakeTimeProvider();
        int waiting = 0;
        using var controller = new LoadController(chooser, () => waiting, Options.Create(adaptiveOptions), time,
            NullLogger<LoadController>.Instance);
        string Served(LoadMode mode, OrchestratorOptions options) =>
            JobRequestMapping.ToJob(mode.Request(1, 4, 50), options, chooser, controller).Spec.Schedule.ToString();

        controller.Tick();
        Assert.Equal(0, controller.Shift);
        Assert.Equal("small:0 -> large:1", Served(adaptiveMode, adaptiveOptions));
        waiting = 1000;
        for (int i = 0; i < 5; i++) controller.Tick();
        Assert.Equal(3, controller.Shift); // r = 0.1, 0.2, 0.3: WorstSchedule 0.3
        Assert.Equal("small:0.3 -> large:0.7", Served(adaptiveMode, adaptiveOptions));
        // The fixed side's explicit all-large is never moved, even by a shifted controller.
        Assert.Equal("small:0 -> large:1", Served(fixedMode, adaptiveOptions));
        Assert.Equal("small:0 -> large:1", Served(fixedMode, fixedOptions));
    }

    [Fact]
    public void Arrivals_are_a_seeded_poisson_process_and_rounds_alternate_which_mode_goes_first()
    {
        var a = AdaptiveLoadSetup.ArrivalTimes(50, 100, seed: 3);
        Assert.Equal(a, AdaptiveLoadSetup.ArrivalTimes(50, 100, seed: 3));
        Assert.NotEqual(a, AdaptiveLoadSetup.ArrivalTimes(50, 100, seed: 4));
        Assert.Equal(0, a[0]);
        Assert.All(a.Zip(a.Skip(1)), p => Assert.True(p.Second >= p.First));
        Assert.True(a[^1] < 100);
        // 5000 expected; a Poisson count's standard deviation is ~71, so this fails only for a wrong rate.
        Assert.InRange(a.Count, 4700, 5300);
        // Exponential gaps: about 37 % of them longer than the mean gap (e^-1).
        var gaps = a.Zip(a.Skip(1), (x, y) => y - x).ToList();
        Assert.InRange(gaps.Count(g => g > 1 / 50.0) / (double)gaps.Count, 0.33, 0.41);
        Assert.Throws<ArgumentOutOfRangeException>(() => AdaptiveLoadSetup.ArrivalTimes(0, 10, 1));

        Assert.Equal([0, 1], AdaptiveLoadSetup.Order(0));
        Assert.Equal([1, 0], AdaptiveLoadSetup.Order(1));
        Assert.Equal([0, 1], AdaptiveLoadSetup.Order(2));
    }

    [Fact]
    public void The_report_scores_exactly_the_measured_jobs_samples_and_latencies()
    {
        var reference = ShapesDataset.Generate(120, 11);
        var train = ShapesDataset.Generate(120, 12);
        using var metric = new FidProxy(reference.Pixels, reference.Labels, train.Pixels, train.Labels);
        var real = ShapesDataset.Generate(40, 13); // what the measured jobs "returned": 10 jobs of 4 images
        int length = FeatureNetLength;
        ServedJob Job(int round, int index, bool measured, float[] samples, int[] labels, string schedule, double r, double latency,
            double sent) =>
            new(round, index, measured, sent, latency, schedule, r, 0, samples, labels);

        var served = new List<ServedJob>();
        for (int i = 0; i < 10; i++)
        {
            var samples = real.Pixels.AsSpan(i * 4 * length, 4 * length).ToArray();
            var labels = real.Labels[(i * 4)..(i * 4 + 4)];
            bool shifted = i % 2 == 1;
            served.Add(Job(i / 5, i % 5 + 2, true, samples, labels, shifted ? "small:0.2 -> large:0.8" : "small:0 -> large:1",
                shifted ? 0.2 : 0, latency: 100 * (i + 1), sent: i % 5));
        }
        // Warm-up jobs (noise, slow) and a failed measured job: neither is scored; the failure counts in latency.
        var noise = Enumerable.Repeat(0.5f, 4 * length).ToArray();
        served.Add(Job(0, 0, false, noise, [0, 1, 2, 3], "small:0 -> large:1", 0, 99_999, 0));
        served.Add(Job(1, 1, false, noise, [0, 1, 2, 3], "small:0 -> large:1", 0, 99_999, 0));
        served.Add(ServedJob.Failed(1, 9, true, 4.5, 2000, AdaptiveLoadSetup.Job(9, 4, 50), "Unavailable: gone"));
        served.Reverse(); // completion order is not job order

        var scored = ServedJob.Scored([.. served], metric); // as after each run: samples dropped, features kept
        Assert.All(scored, j => Assert.Empty(j.Samples));
        Assert.Equal(10, scored.Count(j => j.Features is not null));
        var report = ModeReport.From("adaptive", scored, offeredJobsPerSecond: 5, targetMs: 400, metric);

        var expected = metric.Evaluate(real.Pixels, real.Labels); // measured jobs in round, then index order
        Assert.Equal(expected, report.Quality);
        Assert.Equal(11, report.Jobs);
        Assert.Equal(1, report.Failed);
        Assert.Equal(40, report.Images);
        Assert.Equal([("small:0 -> large:1", 5), ("small:0.2 -> large:0.8", 5)], report.Schedules);
        Assert.Equal(0.1, report.MeanOffLargeShare, 9);
        var latencies = Enumerable.Range(1, 10).Select(i => 100.0 * i).Append(2000).Order().ToArray();
        Assert.Equal(latencies[5], report.P50Ms, 9); // 11 values: the 6th
        Assert.Equal(latencies[9] + 0.5 * (latencies[10] - latencies[9]), report.P95Ms, 9);
        Assert.False(report.WithinTarget);
        // Round 0 spans sent 0 .. answered 4 + 0.5 s; round 1 sent 0 .. the failed job answered at 4.5 + 2 s.
        Assert.Equal(40 / (4.5 + 6.5), report.ThroughputImagesPerSecond, 9);
    }

    [Fact]
    public void A_served_job_reads_its_schedule_share_and_load_shift_from_the_result()
    {
        var request = AdaptiveLoadSetup.Job(3, 2, 50);
        var result = new GenerateResult
        {
            Job = new Job
            {
                Steps = 50, Schedule = "small:0.2 -> large:0.8",
                ScheduleReason = "default schedule small:0 (profile 'x'); small:0.2 -> large:0.8 predicted 12 ms, " +
                    "FD 0.400; load shift +2 " +
                    "from small:0 -> large:1",
                CallsPerPool = { ["small"] = 10, ["large"] = 40 },
            },
            Samples = TensorMessages.FromFloats(new float[2 * FeatureNetLength], 2, 3, 32, 32),
        };
        var job = ServedJob.From(0, 3, true, 1.5, 250, request, result, "large");
        Assert.Equal(0.2, job.OffLargeShare, 9);
        Assert.Equal(2, job.Shift);
        Assert.Equal([3 * 2 % 10, (3 * 2 + 1) % 10], job.Labels);
        Assert.Equal(2, job.Images);
        Assert.Equal(0, ServedJob.From(0, 3, true, 1.5, 250, request, new GenerateResult
        {
            Job = new Job { Steps = 50, Schedule = "small:0 -> large:1", CallsPerPool = { ["large"] = 50 } },
            Samples = result.Samples,
        }, "large").Shift);
    }

    private const int FeatureNetLength = FeatureNet.ImageLength;

    public void Dispose() => File.Delete(_profile);
}
