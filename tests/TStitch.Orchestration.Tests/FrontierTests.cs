using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using Microsoft.Extensions.Time.Testing;
using TStitch.Contracts;
using TStitch.Orchestration.Frontier;
using TStitch.Sampling;

namespace TStitch.Orchestration.Tests;

/// <summary>Frontier profiles, tier and budget requests, and the load controller, on a fake clock.</summary>
public class FrontierTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("tstitch-frontier-").FullName;

    private static OrchestratorOptions Options(double worst = 0.5, double latencyTargetMs = 0) => new()
    {
        Pools = { ["small"] = "http://small:1", ["large"] = "http://large:2" },
        DefaultSmallFraction = 0.1, WorstSchedule = worst, LatencyTarget = TimeSpan.FromMilliseconds(latencyTargetMs),
        ControlInterval = TimeSpan.FromSeconds(1), ControlReferenceImages = 1, MaxRunningJobs = 2,
    };

    /// <summary>The shape of docs/frontier.md: flat up to r = 0.2, then rising; small costs a tenth of large per step.</summary>
    public static FrontierProfile Profile()
    {
        double[] fd = [0.379, 0.380, 0.396, 0.490, 0.754, 1.238, 1.723];
        var points = fd.Select((f, i) =>
        {
            double r = i / 10.0;
            return new FrontierPoint
            {
                Stages = [new("small", r), new("large", 1 - r)], Fd = f, Precision = 0.97, Recall = 0.3, ClassAccuracy = 0.6,
                LatencyMsPerImage = 50 * ((1 - r) * 1.0 + r * 0.1),
            };
        });
        return new FrontierProfile
        {
            Family = "test", Sampler = "ddim", Steps = 50, Samples = 100, Batch = 1, MeasuredOn = "in-process",
            StepMsPerImage = new() { ["small"] = 0.1, ["large"] = 1.0 }, Points = ParetoFront.Mark(points),
        };
    }

    private static ScheduleChooser Chooser(OrchestratorOptions options, PoolStepTimes? live = null, FrontierProfile? profile = null) =>
        new(new FrontierProfiles([("test.json", profile ?? Profile())]), live ?? new PoolStepTimes(),
            Microsoft.Extensions.Options.Options.Create(options));

    /// <summary>A stage of 45 steps of one image on <paramref name="pool"/> that took <paramref name="msPerStep"/> a step.</summary>
    private static void Stage(PoolStepTimes live, string pool, double msPerStep) => live.Observe(pool, 45 * msPerStep, 45, 1);

    private static GenerateRequest Request(Action<GenerateRequest>? change = null)
    {
        var r = new GenerateRequest { Steps = 50, Seed = 5 };
        r.ClassLabels.Add(1);
        change?.Invoke(r);
        return r;
    }

    private string Write(string name, string json)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, json);
        return path;
    }

    public static TheoryData<string, Func<string, string>, string> Malformed => new()
    {
        { "not JSON", _ => "{ \"family\": ", "not valid profile JSON" },
        { "NaN FD", j => j.Replace("\"fd\": 0.396", "\"fd\": \"NaN\""), "points[2].fd must be a number" },
        { "no Pareto point", j => j.Replace("\"pareto\": true", "\"pareto\": false"), "no point is marked pareto" },
        { "fractions not summing to 1", j => j.Replace("\"fraction\": 0.9", "\"fraction\": 0.8"),
            "points[1].stages: Stage fractions must sum to 1" },
        { "unknown pool", j => j.Replace("\"small\": 0.1", "\"base\": 0.1"), "pool 'base', which Orchestrator:Pools does not configure" },
        { "unknown sampler", j => j.Replace("\"sampler\": \"ddim\"", "\"sampler\": \"euler\""), "sampler 'euler'" },
        { "negative latency", j => j.Replace("\"latencyMsPerImage\": 50,", "\"latencyMsPerImage\": -1,"),
            "points[0].latencyMsPerImage must be a positive number" },
        // JSON null where an object, list or name must be (it reached the checks as null and threw NullReferenceException).
        { "null sampler", j => j.Replace("\"sampler\": \"ddim\"", "\"sampler\": null"), "sampler is missing or null" },
        { "null points", j => j.Replace("\"points\": [", "\"points\": null, \"unused\": ["), "points is missing or null" },
        { "null step costs", j => j.Replace("\"stepMsPerImage\": {", "\"stepMsPerImage\": null, \"unused\": {"),
            "stepMsPerImage is missing or null" },
        { "null stage", j => ReplaceFirst(j, "\"stages\": [", "\"stages\": [null, "), "points[0].stages holds a null stage" },
        { "null point", j => j.Replace("\"points\": [", "\"points\": [null, "), "points[0] is null" },
    };

    private static string ReplaceFirst(string text, string what, string with)
    {
        int at = text.IndexOf(what, StringComparison.Ordinal);
        return at < 0 ? text : string.Concat(text.AsSpan(0, at), with, text.AsSpan(at + what.Length));
    }

    [Theory]
    [MemberData(nameof(Malformed))]
    public void Malformed_profiles_fail_loading_naming_the_file_and_what_is_wrong(string name, Func<string, string> spoil, string problem)
    {
        var good = Profile().ToJson();
        var spoiled = spoil(good);
        Assert.NotEqual(good, spoiled); // the spoiler found what it replaces
        var path = Write("bad.json", spoiled);
        var ex = Assert.Throws<InvalidDataException>(() => FrontierProfiles.Load([path], ["small", "large"]));
        Assert.Contains(path, ex.Message);
        Assert.Contains(problem, ex.Message);
        // Start-up validation reports the same through the options.
        var options = Options();
        options.Profiles.Add(path);
        Assert.Contains(options.Validate(new(options)), r => r.ErrorMessage!.Contains(problem) && r.ErrorMessage.Contains(path));
        _ = name;
    }

    [Fact]
    public void A_folder_of_good_profiles_loads_and_a_missing_file_is_named()
    {
        Write("a.json", Profile().ToJson());
        var loaded = FrontierProfiles.Load([_dir], ["small", "large"]);
        Assert.Single(loaded.Loaded);
        Assert.Equal(7, loaded.Loaded[0].Profile.Points.Count);
        var ex = Assert.Throws<InvalidDataException>(() => FrontierProfiles.Load([Path.Combine(_dir, "nope.json")], ["small", "large"]));
        Assert.Contains("nope.json' does not exist", ex.Message);
    }

    [Theory]
    [InlineData(0.0)]
    [InlineData(-5.0)]
    [InlineData(double.NaN)]
    [InlineData(double.PositiveInfinity)]
    public void A_budget_that_is_not_a_positive_number_is_invalid(double budget)
    {
        var options = Options();
        var ex = Assert.Throws<InvalidRequestException>(() =>
            JobRequestMapping.ToJob(Request(r => r.LatencyBudgetMs = budget), options, Chooser(options)));
        Assert.Equal("latency_budget_ms", ex.Field);
    }

    [Fact]
    public void A_tier_or_budget_without_a_profile_is_invalid_with_a_clear_message()
    {
        var options = Options();
        var tier = Assert.Throws<InvalidRequestException>(() => JobRequestMapping.ToJob(Request(r => r.Tier = Tier.Fast), options));
        Assert.Contains("no frontier profile", tier.Message);
        var budget = Assert.Throws<InvalidRequestException>(() => JobRequestMapping.ToJob(Request(r => r.LatencyBudgetMs = 100), options));
        Assert.Equal("latency_budget_ms", budget.Field);
        Assert.Throws<InvalidRequestException>(() =>
            JobRequestMapping.ToJob(Request(r => r.Tier = Tier.Unspecified), options, Chooser(options)));
    }

    [Fact]
    public void Tiers_pick_from_the_front_best_being_the_all_large_schedule()
    {
        var options = Options();
        var chooser = Chooser(options);
        JobSpec Map(Tier tier) => JobRequestMapping.ToJob(Request(r => r.Tier = tier), options, chooser).Spec;

        var best = Map(Tier.Best);
        Assert.Equal([new SwitchStage("small", 0), new SwitchStage("large", 1)], best.Stages);
        Assert.Equal("tier:best", best.ScheduleAsk);
        Assert.Contains("all-large", best.ScheduleReason);
        // FD within 5 % of 0.379 is <= 0.398: r = 0.2 (0.396) is the fastest such.
        Assert.Equal("small:0.2 -> large:0.8", Map(Tier.Balanced).Schedule.ToString());
        Assert.Equal("small:0.6 -> large:0.4", Map(Tier.Fast).Schedule.ToString());
    }

    [Fact]
    public void Tier_best_is_the_all_large_schedule_even_when_noise_put_it_just_off_the_front()
    {
        var options = Options();
        // All-large measured a hair worse than r = 0.1 (0.381 against 0.380): the front drops it.
        var noisy = Profile() with { Points = ParetoFront.Mark(Profile().Points.Select((p, i) => i == 0 ? p with { Fd = 0.381 } : p)) };
        Assert.DoesNotContain(noisy.Front, p => p.OffLargeFraction("large") == 0);
        var chooser = Chooser(options, profile: noisy);
        var best = JobRequestMapping.ToJob(Request(r => r.Tier = Tier.Best), options, chooser).Spec;
        Assert.Equal([new SwitchStage("small", 0), new SwitchStage("large", 1)], best.Stages);
        Assert.Contains("all-large", best.ScheduleReason);
    }

    [Fact]
    public void A_budget_gets_the_best_schedule_that_fits_or_the_fastest_saying_so()
    {
        var options = Options();
        var chooser = Chooser(options);
        JobSpec Map(double ms) => JobRequestMapping.ToJob(Request(r => r.LatencyBudgetMs = ms), options, chooser).Spec;

        // One image, 50 steps: r = 0 predicts 50 ms, r = 0.2 predicts 10 x 0.1 + 40 x 1 = 41 ms.
        Assert.Equal("small:0 -> large:1", Map(50).Schedule.ToString());
        Assert.Equal("small:0.2 -> large:0.8", Map(45).Schedule.ToString());
        var tooTight = Map(1);
        Assert.Equal("small:0.6 -> large:0.4", tooTight.Schedule.ToString()); // 30 x 0.1 + 20 x 1 = 23 ms
        Assert.Contains("no frontier schedule fits the budget of 1 ms", tooTight.ScheduleReason);
        Assert.Contains("running the fastest", tooTight.ScheduleReason);
    }

    [Fact]
    public void Live_step_costs_correct_the_prediction()
    {
        var options = Options();
        var live = new PoolStepTimes();
        var chooser = Chooser(options, live);
        JobSpec Map() => JobRequestMapping.ToJob(Request(r => r.LatencyBudgetMs = 50), options, chooser).Spec;
        Assert.Equal("small:0 -> large:1", Map().Schedule.ToString());
        // The large pool now takes 2 ms a step (per image): all-large predicts 100 ms; r = 0.6 predicts 43 ms.
        Stage(live, "large", 2.0);
        Assert.Equal("small:0.6 -> large:0.4", Map().Schedule.ToString());
    }

    [Fact]
    public void Resubmitting_the_same_tier_finds_the_job_even_if_the_choice_would_differ_now()
    {
        var options = Options();
        var a = JobRequestMapping.ToJob(Request(r => { r.LatencyBudgetMs = 45; r.JobId = "j1"; }), options, Chooser(options)).Spec;
        var live = new PoolStepTimes();
        Stage(live, "large", 2.0);
        var b = JobRequestMapping.ToJob(Request(r => { r.LatencyBudgetMs = 45; r.JobId = "j1"; }), options, Chooser(options, live)).Spec;
        Assert.NotEqual(a.Schedule.ToString(), b.Schedule.ToString());
        Assert.True(a.SameAs(b));
        Assert.False(a.SameAs(b with { Seed = 6 }));
        // The stored spec keeps the choice, so a resumed job runs what was chosen.
        Assert.Equal(a.Schedule.ToString(), JobSpec.FromJson(a.ToJson()).Schedule.ToString());
    }

    [Fact]
    public async Task Under_load_the_controller_shifts_new_jobs_one_point_at_a_time_up_to_the_bound_and_back()
    {
        var options = Options(worst: 0.4, latencyTargetMs: 45);
        var time = new FakeTimeProvider();
        var live = new PoolStepTimes(time);
        var chooser = Chooser(options, live);
        int waiting = 0;
        using var controller = new LoadController(chooser, () => waiting,
            Microsoft.Extensions.Options.Options.Create(options), time, NullLogger<LoadController>.Instance);
        await controller.StartAsync(CancellationToken.None);
        double SmallFraction(GenerateRequest request) =>
            JobRequestMapping.ToJob(request, options, chooser, controller).Spec.Stages.Where(s => s.ModelId == "small")
                .Sum(s => s.Fraction);
        // One control interval in which running jobs ended stages taking largeMs a step on the large pool.
        List<int> Run(int ticks, double largeMs)
        {
            var seen = new List<int>();
            for (int i = 0; i < ticks; i++)
            {
                Stage(live, "large", largeMs);
                time.Advance(options.ControlInterval);
                seen.Add(controller.Shift);
            }
            return seen;
        }

        // Idle: the default (r = 0.1, predicted 23 ms, under the 45 ms target) stays where it is.
        Assert.Equal([0, 0, 0], Run(3, largeMs: 0.5));
        var before = JobRequestMapping.ToJob(Request(), options, chooser, controller).Spec;
        Assert.Equal(0.1, SmallFraction(Request()), 9);

        // Load: the large pool slows to 2 ms a step and jobs queue. One point per tick, up to r = 0.4.
        waiting = 4;
        Assert.Equal([1, 2, 3, 3, 3, 3], Run(6, largeMs: 2.0));
        Assert.Equal(0.4, SmallFraction(Request()), 9); // never past WorstSchedule
        Assert.Equal(0.3, SmallFraction(Request(r => r.Tier = Tier.Best)), 9); // tiers shift too: r = 0 by three points
        Assert.Contains("load shift +3", JobRequestMapping.ToJob(Request(), options, chooser, controller).Spec.ScheduleReason);
        // Explicit schedules are the caller's: never shifted.
        Assert.Equal(0.05, SmallFraction(Request(r => r.SmallFraction = 0.05)), 9);
        Assert.Equal(0.6, SmallFraction(Request(r => r.Tier = Tier.Fast)), 9); // already past the bound: left alone
        // A job mapped before the shift keeps its spec (what it runs and what a resume runs).
        Assert.Equal("small:0.1 -> large:0.9", before.Schedule.ToString());
        Assert.True(before.SameAs(JobRequestMapping.ToJob(Request(), options, chooser, controller).Spec));

        // Load falls: back one point after every LoadController.CalmIntervalsBeforeBack (3) calm ticks, to none.
        waiting = 0;
        Assert.Equal([3, 3, 2, 2, 2, 1, 1, 1, 0, 0], Run(10, largeMs: 0.5));
        Assert.Equal(0.1, SmallFraction(Request()), 9);
    }

    [Fact]
    public async Task Queueing_alone_shifts_and_a_cluster_gone_idle_is_predicted_from_the_profile_again()
    {
        // Target 100 ms: the profile's costs (all-large 50 ms for one image) are well under it.
        var options = Options(worst: 0.4, latencyTargetMs: 100);
        var time = new FakeTimeProvider();
        var live = new PoolStepTimes(time);
        int waiting = 0;
        using var controller = new LoadController(Chooser(options, live), () => waiting,
            Microsoft.Extensions.Options.Options.Create(options), time, NullLogger<LoadController>.Instance);
        await controller.StartAsync(CancellationToken.None);

        // Steps as fast as the profile says, but 6 jobs wait for the 2 slots: 4 x 45.5 ms predicted.
        waiting = 6;
        for (int i = 0; i < 3; i++)
        {
            Stage(live, "large", 1.0);
            time.Advance(options.ControlInterval);
        }
        Assert.Equal(3, controller.Shift);
        Assert.True(controller.LastEstimateMs > 100);

        // Load stops and no stage ends any more: the live costs age out of their window, the profile's
        // predict again, and the shift goes back rather than sticking at the last loaded value.
        Stage(live, "large", 5.0);
        waiting = 0;
        var seen = new List<int>();
        for (int i = 0; i < 11; i++)
        {
            time.Advance(options.ControlInterval);
            seen.Add(controller.Shift);
        }
        Assert.Equal([3, 3, 3, 2, 2, 2, 1, 1, 1, 0, 0], seen);
        Assert.Null(live.MsPerImage("large"));
    }

    [Fact]
    public async Task Measured_job_latency_over_the_target_shifts_even_when_the_prediction_is_under_it()
    {
        // Target 100 ms; the prediction stays at the profile's costs (at most 45.5 ms: well under it) and no job waits.
        var options = Options(worst: 0.4, latencyTargetMs: 100);
        var time = new FakeTimeProvider();
        var live = new PoolStepTimes(time);
        var latencies = new JobLatencies(time);
        using var controller = new LoadController(Chooser(options, live), () => 0, Microsoft.Extensions.Options.Options.Create(options),
            time, NullLogger<LoadController>.Instance, latencies);
        await controller.StartAsync(CancellationToken.None);
        // One control interval in which governed jobs ended taking these many ms (submit to result).
        List<int> Run(int ticks, params double[] ms)
        {
            var seen = new List<int>();
            for (int i = 0; i < ticks; i++)
            {
                foreach (var m in ms) latencies.Observe(m);
                time.Advance(options.ControlInterval);
                seen.Add(controller.Shift);
            }
            return seen;
        }

        // Most jobs are fast, but the p95 of the window is over the target: the measurement alone shifts.
        double[] slowTail = [.. Enumerable.Repeat(40.0, 18), 150, 160];
        Assert.Equal([1, 2, 3, 3], Run(4, slowTail));
        Assert.True(controller.LastEstimateMs < 100);
        Assert.True(controller.LastObservedP95Ms > 100);
        // Under the target but not under 70 % of it: the prediction alone would go back, the measurement holds the shift.
        Assert.Equal([3, 3], Run(2, 80));
        // Fast, but 100 jobs ending a tick (50 a second over the 2 s window): the less shifted point (r = 0.3,
        // predicted 50 x (0.7 + 0.3 x 0.1) = 36.5 ms) carries 2 slots x 1000 / 36.5 = 55 a second, under the rate
        // with 50 % headroom (75), so the controller holds the shift: stepping back would refill the queue.
        Assert.Equal([3, 3, 3, 3, 3], Run(5, [.. Enumerable.Repeat(40.0, 100)]));
        // Well under, one job a tick (once the burst has left the window): back one point after every three calm ticks.
        Assert.Equal([3, 3, 2, 2, 2, 1, 1, 1, 0, 0], Run(10, 40));
        // No governed job ended lately: nothing measured, the prediction decides (and keeps none).
        Assert.Equal([0, 0], Run(2));
        Assert.Null(latencies.Percentile(0.95));
    }

    [Fact]
    public async Task A_step_back_needs_the_capacity_that_the_measured_run_times_of_jobs_show()
    {
        // Target 400 ms, 2 running slots. Predicted reference jobs: r = 0.4 (shift 3) 50 x (0.6 + 0.04) = 32 ms,
        // r = 0.3 (shift 2) 50 x (0.7 + 0.03) = 36.5 ms.
        var options = Options(worst: 0.4, latencyTargetMs: 400);
        var time = new FakeTimeProvider();
        var latencies = new JobLatencies(time);
        using var controller = new LoadController(Chooser(options, new PoolStepTimes(time)), () => 0,
            Microsoft.Extensions.Options.Options.Create(options), time, NullLogger<LoadController>.Instance, latencies);
        await controller.StartAsync(CancellationToken.None);
        List<int> Run(int ticks, int jobsPerTick, double ms, double runMs)
        {
            var seen = new List<int>();
            for (int i = 0; i < ticks; i++)
            {
                for (int j = 0; j < jobsPerTick; j++) latencies.Observe(ms, runMs);
                time.Advance(options.ControlInterval);
                seen.Add(controller.Shift);
            }
            return seen;
        }
        Assert.Equal([1, 2, 3], Run(3, 20, 500, 450)); // over the target: up to the furthest point

        // 20 jobs a tick (10 a second over the 2 s window), each 200 ms from submit (under 70 % of the target)
        // and 180 ms in its slot. The prediction alone says r = 0.3 carries 2 x 1000 / 36.5 = 55 a second; the
        // slots measured say 2 x 1000 / (180 x 36.5 / 32) = 9.7, under 1.5 x 10: the controller holds the
        // furthest point.
        Assert.Equal([3, 3, 3, 3, 3, 3, 3, 3], Run(8, 20, 200, 180));
        Assert.Equal(180, latencies.MeanRunMs!.Value, 6);
        Assert.Equal(10, latencies.PerSecond, 6);
        // The same jobs without a run time: only the prediction speaks, and it steps back.
        Assert.Contains(2, Run(8, 20, 200, double.NaN));
        // Jobs that run briefly in their slots: r = 0.3 carries 2 x 1000 / (40 x 36.5 / 32) = 43.8 a second.
        Run(3, 20, 500, 450); // back to the furthest point first
        Assert.Equal(3, controller.Shift);
        Assert.Contains(2, Run(8, 20, 60, 40));
    }

    [Fact]
    public void Live_step_costs_are_whole_stages_averaged_over_the_window_weighted_by_steps()
    {
        var time = new FakeTimeProvider();
        var live = new PoolStepTimes(time);
        Assert.Null(live.MsPerImage("large"));
        live.Observe("large", 100, steps: 50, images: 2); // 1 ms a step per image
        live.Observe("large", 30, steps: 10, images: 1); // 3 ms
        Assert.Equal((50 + 30) / 60.0, live.MsPerImage("large")!.Value, 9);
        Assert.Null(live.MsPerImage("small"));
        // Nonsense is ignored rather than poisoning the average.
        live.Observe("large", double.NaN, 10, 1);
        live.Observe("large", 10, 0, 1);
        live.Observe("large", -5, 10, 1);
        Assert.Equal((50 + 30) / 60.0, live.MsPerImage("large")!.Value, 9);

        time.Advance(PoolStepTimes.Window / 2);
        live.Observe("large", 40, steps: 10, images: 1); // 4 ms
        Assert.Equal((50 + 30 + 40) / 70.0, live.MsPerImage("large")!.Value, 9);
        time.Advance(PoolStepTimes.Window * 0.75); // the first two stages are out, the last one in
        Assert.Equal(4.0, live.MsPerImage("large")!.Value, 9);
        time.Advance(PoolStepTimes.Window);
        Assert.Null(live.MsPerImage("large"));
    }

    [Fact]
    public async Task Without_a_latency_target_the_controller_never_shifts()
    {
        var options = Options();
        var time = new FakeTimeProvider();
        var live = new PoolStepTimes();
        using var controller = new LoadController(Chooser(options, live), () => 100,
            Microsoft.Extensions.Options.Options.Create(options), time, NullLogger<LoadController>.Instance);
        await controller.StartAsync(CancellationToken.None);
        Stage(live, "large", 10);
        time.Advance(TimeSpan.FromSeconds(10));
        Assert.False(controller.Enabled);
        Assert.Equal(0, controller.Shift);
        Assert.Null(JobRequestMapping.ToJob(Request(), options, Chooser(options, live), controller).Spec.ScheduleAsk);
    }

    public void Dispose()
    {
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
