using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// Load-adaptive switching (<see cref="OrchestratorOptions.LatencyTarget"/>): every
/// <see cref="OrchestratorOptions.ControlInterval"/> it estimates what a new job would take now, its
/// predicted run time (the stages that ended in the last <see cref="PoolStepTimes.Window"/>, so a pool
/// slowed by queueing in its batcher shows; with none, the profile's costs) times the queue in front of
/// it (1 + waiting jobs / running slots), and moves the shift one frontier point towards speed when the
/// estimate, or the measured p95 latency of the jobs it governs that ended lately
/// (<see cref="JobLatencies"/>), exceeds the target; one back when the less shifted point would stay
/// under <see cref="Hysteresis"/> of it, the measured p95 is under that too and the less shifted point's
/// capacity (MaxRunningJobs jobs at its run time: the measured run time of the jobs that ended, scaled by
/// the predicted ratio between the two points) carries the jobs now ending per second with
/// <see cref="CapacityHeadroom"/> to spare, for <see cref="CalmIntervalsBeforeBack"/> intervals in a row.
/// The shift only ever applies to new jobs that left the schedule to
/// the orchestrator (<see cref="ScheduleChooser"/>); the reference job is a default request of
/// <see cref="OrchestratorOptions.ControlReferenceImages"/> images.
/// </summary>
public sealed partial class LoadController : IHostedService, IDisposable
{
    public const string MeterName = "TStitch.Orchestrator.Load";
    /// <summary>Shift back only when the less shifted schedule would stay below this share of the target (no flapping).</summary>
    public const double Hysteresis = 0.7;
    /// <summary>
    /// Calm intervals in a row before a step back. A less shifted schedule has less capacity, so stepping
    /// back at the first calm interval refilled the queue: under 1.3x overload the shift swung 0 -> 4 -> 0
    /// every ~10 s and p95 missed the target (docs/frontier.md).
    /// </summary>
    public const int CalmIntervalsBeforeBack = 3;
    /// <summary>
    /// A step back needs the less shifted point's capacity to exceed the current job rate by this factor.
    /// Latency alone looked calm as soon as the queue had drained, so the controller stepped back to a
    /// schedule that could not carry the arrivals and the queue refilled (docs/frontier.md). The capacity
    /// comes from jobs' run times at the current load, which are shorter than at saturation (fewer jobs
    /// share each batched model run): at 0.9 of the furthest point's capacity 1.25 still let the shift
    /// swing 4 -> 1 -> 4 (runs 9 and 10), so the headroom also covers that.
    /// </summary>
    public const double CapacityHeadroom = 1.5;

    private readonly ScheduleChooser _chooser;
    private readonly Func<int> _waiting;
    private readonly JobLatencies? _latencies;
    private readonly OrchestratorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private ITimer? _timer;
    private readonly Meter _meter = new(MeterName);
    private readonly Lock _lock = new();
    private int _shift, _calm;

    public LoadController(ScheduleChooser chooser, Func<int> waiting, IOptions<OrchestratorOptions> options, TimeProvider time,
        ILogger<LoadController> logger, JobLatencies? latencies = null)
    {
        _chooser = chooser;
        _latencies = latencies;
        _waiting = waiting;
        _options = options.Value;
        _logger = logger;
        _time = time;
        _meter.CreateObservableGauge("tstitch.orchestrator.load_shift", () => Shift, "{points}",
            "Frontier points new jobs are shifted towards speed by the load controller (0 = none).");
        _meter.CreateObservableGauge("tstitch.orchestrator.estimated_latency", () => LastEstimateMs, "ms",
            "The load controller's latest estimate of a new reference job's latency.");
        _meter.CreateObservableGauge("tstitch.orchestrator.observed_latency_p95", () => LastObservedP95Ms, "ms",
            "p95 latency (submit to result) of the jobs the load controller governs that ended in its last window.");
    }

    public Task StartAsync(CancellationToken cancellationToken)
    {
        if (Enabled) _timer = _time.CreateTimer(_ => Tick(), null, _options.ControlInterval, _options.ControlInterval);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken)
    {
        _timer?.Dispose();
        return Task.CompletedTask;
    }

    public bool Enabled => _options.LatencyTarget > TimeSpan.Zero && !_chooser.Profiles.IsEmpty;

    /// <summary>Frontier points new jobs are currently shifted by (0 when adaptive mode is off).</summary>
    public int Shift => Volatile.Read(ref _shift);

    /// <summary>The latest prediction of a new reference job's latency (queue and run time).</summary>
    public double LastEstimateMs { get; private set; }

    /// <summary>The latest measured p95 of governed jobs' latency (0 when none ended in the window).</summary>
    public double LastObservedP95Ms { get; private set; }

    /// <summary>One control step (the timer's; tests call it through a fake clock).</summary>
    public void Tick()
    {
        lock (_lock)
        {
            var profile = ReferenceProfile;
            var sampler = Sampler.Parse(profile.Sampler);
            int steps = profile.Steps, batch = _options.ControlReferenceImages;
            double target = _options.LatencyTarget.TotalMilliseconds;
            int waiting = _waiting();
            double queue = 1 + waiting / (double)_options.MaxRunningJobs;
            double RunMs(int shift) => PredictDefault(sampler, steps, batch, shift);
            int max = _chooser.MaxShift(sampler, steps, batch);
            int old = _shift, next = Math.Min(old, max);
            double nowMs = RunMs(next);
            LastEstimateMs = queue * nowMs;
            double observed = LastObservedP95Ms = _latencies?.Percentile(0.95) ?? 0;
            // Towards speed when either the prediction or what jobs measurably took is over the target; back
            // only when the less shifted point is predicted under the hysteresis share of it, the jobs
            // measurably are too (the measurement cannot speak for the less shifted point, so it only vetoes)
            // and that point has the capacity for the current job rate, for several intervals in a row.
            double backMs = next > 0 ? RunMs(next - 1) : double.PositiveInfinity;
            bool calm = next > 0 && queue * backMs < Hysteresis * target && observed < Hysteresis * target
                && Carries(backMs, nowMs);
            _calm = calm ? _calm + 1 : 0;
            if ((LastEstimateMs > target || observed > target) && next < max) next++;
            else if (calm && _calm >= CalmIntervalsBeforeBack)
            {
                next--;
                _calm = 0;
            }
            if (next != old)
            {
                Volatile.Write(ref _shift, next);
                LogShift(_logger, old, next, LastEstimateMs, observed, target, waiting);
            }
        }
    }

    /// <summary>The profile the reference job is predicted with: DDIM's if loaded, else the first.</summary>
    private FrontierProfile ReferenceProfile => _chooser.Profiles.For(SamplerKind.Ddim, 0) ?? _chooser.Profiles.Loaded[0].Profile;

    /// <summary>
    /// Whether the point whose reference job is predicted at <paramref name="backMs"/> (the current one at
    /// <paramref name="nowMs"/>) could serve the jobs ending per second now (the arrival rate once nothing
    /// waits) with headroom: MaxRunningJobs at a time. A slot is busy for a job's whole run, not only its
    /// model time: the jobs that ended measured that run time at the current point, and the less shifted
    /// point's is that times the predicted ratio. (The prediction alone leaves out store writes, hand-offs
    /// and the result, ~30-40 % of a zoo job's run under load, so it overrated the less shifted point and the
    /// controller stepped back into a queue: docs/frontier.md, run 7.) Without measured jobs there is
    /// nothing to carry.
    /// </summary>
    private bool Carries(double backMs, double nowMs)
    {
        double rate = _latencies?.PerSecond ?? 0;
        if (rate == 0) return true;
        double runMs = _latencies!.MeanRunMs is { } measured ? measured * backMs / Math.Max(nowMs, 1e-3) : backMs;
        double capacity = _options.MaxRunningJobs * 1000 / Math.Max(runMs, 1e-3);
        return capacity >= CapacityHeadroom * rate;
    }

    private double PredictDefault(SamplerKind sampler, int steps, int batch, int shift)
    {
        var choice = _chooser.Choose(ScheduleAsk.Default, sampler, steps, batch, shift);
        if (choice?.PredictedMs is { } ms) return ms;
        var profile = _chooser.Profiles.For(sampler, steps)!;
        var schedule = SwitchSchedule.SmallThenLarge(_options.DefaultSmallFraction, _options.SmallPool, _options.LargePool);
        return _chooser.PredictMs(profile, schedule, steps, batch);
    }

    public void Dispose()
    {
        _timer?.Dispose();
        _meter.Dispose();
    }

    [LoggerMessage(Level = LogLevel.Information,
        Message = "Load shift {Old} -> {New}: estimated {EstimateMs:F0} ms, measured p95 {ObservedMs:F0} ms against a target of " +
            "{TargetMs:F0} ms, {Waiting} jobs waiting")]
    private static partial void LogShift(ILogger logger, int old, int @new, double estimateMs, double observedMs, double targetMs,
        int waiting);
}
