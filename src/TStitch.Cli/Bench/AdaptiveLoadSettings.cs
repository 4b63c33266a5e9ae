namespace TStitch.Cli.Bench;

/// <summary>What `tstitch load --latency-target` runs: the job shape, the load and the adaptive orchestrator's settings.</summary>
/// <param name="TargetMs">Orchestrator:LatencyTarget of the adaptive side, and what both sides' p95 is judged against.</param>
/// <param name="ProfilePath">The frontier profile the adaptive side moves along (Orchestrator:Profiles).</param>
/// <param name="Seconds">Measured arrivals per mode and round: jobs arriving in this many seconds after the warm-up.</param>
/// <param name="WarmupSeconds">Arrivals before the measured ones (unmeasured): the queue forms and the controller reacts.</param>
/// <param name="Overload">Offered load as a multiple of the measured all-large capacity.</param>
/// <param name="MaxRunningJobs">Orchestrator:MaxRunningJobs of both sides: jobs beyond it wait in the orchestrator's queue.</param>
/// <param name="WorstSchedule">Orchestrator:WorstSchedule of the adaptive side: the largest share of steps it may move off the large
/// pool.</param>
/// <param name="Rounds">Rounds of both modes, the order alternating (fixed first in odd rounds), so a drifting machine load hits
/// both.</param>
/// <param name="CapacitySeconds">How long each closed-loop capacity measurement counts completions (after half as long of warm-up).</param>
/// <param name="CapacityRepeats">Capacity measurements per schedule, all-large and the furthest shift taking turns; medians are used
/// (one 6 s measurement moved by ±15 % between runs, more than the gap between the two capacities).</param>
/// <param name="Between">When set: the offered load sits this fraction of the way from the all-large capacity to the furthest
/// shift's (0.5: the midpoint), instead of <paramref name="Overload"/> x all-large, so it overloads all-large but not that shift.</param>
internal sealed record AdaptiveLoadSettings(
    double TargetMs,
    string ProfilePath,
    int Images,
    int Steps,
    double Seconds,
    double WarmupSeconds,
    double Overload,
    int MaxRunningJobs,
    double WorstSchedule,
    int Rounds,
    int ArrivalSeed,
    double CapacitySeconds,
    int CapacityRepeats = 1,
    double? Between = null,
    string SmallPool = "small",
    string LargePool = "large");
