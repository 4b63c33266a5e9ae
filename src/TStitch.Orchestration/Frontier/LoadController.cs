using System.Diagnostics.Metrics;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// Load-adaptive switching (<see cref="OrchestratorOptions.LatencyTarget"/>): every
/// <see cref="OrchestratorOptions.ControlInterval"/> it estimates what a new job would take now, its
/// predicted run time (live step costs, so a slow large pool shows) times the queue in front of it
/// (1 + waiting jobs / running slots), and moves the shift one frontier point towards speed when the
/// estimate exceeds the target, one back when the less shifted point would stay under
/// <see cref="Hysteresis"/> of it. The shift only ever applies to new jobs that left the schedule to
/// the orchestrator (<see cref="ScheduleChooser"/>); the reference job is a default request of
/// <see cref="OrchestratorOptions.ControlReferenceImages"/> images.
/// </summary>
public sealed partial class LoadController : IHostedService, IDisposable
{
    public const string MeterName = "TStitch.Orchestrator.Load";
    /// <summary>Shift back only when the less shifted schedule would stay below this share of the target (no flapping).</summary>
    public const double Hysteresis = 0.7;

    private readonly ScheduleChooser _chooser;
    private readonly Func<int> _waiting;
    private readonly OrchestratorOptions _options;
    private readonly ILogger _logger;
    private readonly TimeProvider _time;
    private ITimer? _timer;
    private readonly Meter _meter = new(MeterName);
    private readonly Lock _lock = new();
    private int _shift;

    public LoadController(ScheduleChooser chooser, Func<int> waiting, IOptions<OrchestratorOptions> options, TimeProvider time,
        ILogger<LoadController> logger)
    {
        _chooser = chooser;
        _waiting = waiting;
        _options = options.Value;
        _logger = logger;
        _time = time;
        _meter.CreateObservableGauge("tstitch.orchestrator.load_shift", () => Shift, "{points}",
            "Frontier points new jobs are shifted towards speed by the load controller (0 = none).");
        _meter.CreateObservableGauge("tstitch.orchestrator.estimated_latency", () => LastEstimateMs, "ms",
            "The load controller's latest estimate of a new reference job's latency.");
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

    public double LastEstimateMs { get; private set; }

    /// <summary>One control step (the timer's; tests call it through a fake clock).</summary>
    public void Tick()
    {
        lock (_lock)
        {
            var sampler = SamplerKind.Ddim;
            var profile = _chooser.Profiles.For(sampler, 0) ?? _chooser.Profiles.Loaded[0].Profile;
            sampler = Sampler.Parse(profile.Sampler);
            int steps = profile.Steps, batch = _options.ControlReferenceImages;
            double target = _options.LatencyTarget.TotalMilliseconds;
            int waiting = _waiting();
            double queue = 1 + waiting / (double)_options.MaxRunningJobs;
            double Estimate(int shift) => queue * PredictDefault(sampler, steps, batch, shift);
            int max = _chooser.MaxShift(sampler, steps, batch);
            int old = _shift, next = Math.Min(old, max);
            LastEstimateMs = Estimate(next);
            if (LastEstimateMs > target && next < max) next++;
            else if (next > 0 && Estimate(next - 1) < Hysteresis * target) next--;
            if (next != old)
            {
                Volatile.Write(ref _shift, next);
                LogShift(_logger, old, next, LastEstimateMs, target, waiting);
            }
        }
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
        Message = "Load shift {Old} -> {New}: estimated {EstimateMs:F0} ms against a target of {TargetMs:F0} ms, {Waiting} jobs waiting")]
    private static partial void LogShift(ILogger logger, int old, int @new, double estimateMs, double targetMs, int waiting);
}
