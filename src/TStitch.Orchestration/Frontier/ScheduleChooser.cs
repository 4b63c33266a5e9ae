using System.Globalization;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// Picks a frontier schedule for a tier, a latency budget or (under load) a request with no schedule.
/// Predicted latency = steps per pool x cost per step per image x images, the cost being the pools'
/// live moving average (<see cref="PoolStepTimes"/>) where there is one, else the profile's. A load
/// shift of k moves the pick k points further along the front towards speed (more small-model
/// steps), never past <see cref="OrchestratorOptions.WorstSchedule"/>.
/// </summary>
public sealed class ScheduleChooser(FrontierProfiles profiles, PoolStepTimes live, IOptions<OrchestratorOptions> options)
{
    /// <summary>Balanced = the fastest front schedule whose FD is within this of the best's.</summary>
    public const double BalancedFdTolerance = 0.05;

    private readonly OrchestratorOptions _options = options.Value;

    public FrontierProfiles Profiles => profiles;

    /// <summary>Predicted milliseconds for a job of <paramref name="batch"/> images and <paramref name="steps"/> steps.</summary>
    public double PredictMs(FrontierProfile profile, SwitchSchedule schedule, int steps, int batch) =>
        schedule.StepsPerModel(steps).Sum(p => p.Value * CostMsPerImage(profile, p.Key)) * batch;

    public double CostMsPerImage(FrontierProfile profile, string pool) =>
        live.MsPerImage(pool) ?? profile.StepMsPerImage.GetValueOrDefault(pool);

    /// <summary>
    /// The Pareto front, slowest (best quality) first, with each point's predicted latency. The all-large
    /// schedule is in it whenever the profile measured it: it is the reference quality (tier best), and
    /// sampling noise can put it a hair behind a schedule with a few steps off the large pool (the
    /// 1000-sample DDIM profile: FD 0.396 against 0.395 at r = 0.1).
    /// </summary>
    public List<(FrontierPoint Point, double PredictedMs)> Front(FrontierProfile profile, int steps, int batch) =>
        profile.Points.Where(p => p.Pareto || p.OffLargeFraction(_options.LargePool) == 0)
            .Select(p => (p, PredictMs(profile, p.Schedule, steps, batch)))
            .OrderByDescending(x => x.Item2).ThenBy(x => x.p.Fd).ToList();

    /// <summary>
    /// The schedule for <paramref name="ask"/>, or null for a request with no schedule and no shift (it
    /// keeps the orchestrator's default). Throws <see cref="InvalidRequestException"/> for a bad budget or
    /// a tier/budget with no profile loaded.
    /// </summary>
    public ScheduleChoice? Choose(ScheduleAsk ask, SamplerKind sampler, int steps, int batch, int shift)
    {
        if (ask.BudgetMs is { } budget && (!double.IsFinite(budget) || budget <= 0))
            throw new InvalidRequestException("latency_budget_ms",
                $"latency_budget_ms must be a positive number of milliseconds, got {budget.ToString(CultureInfo.InvariantCulture)}.");
        if (ask.Tier is not (Tier.Unspecified or Tier.Best or Tier.Balanced or Tier.Fast))
            throw new InvalidRequestException("tier", $"tier {(int)ask.Tier} is not a Tier; use TIER_BEST, TIER_BALANCED or TIER_FAST.");
        var profile = profiles.For(sampler, steps);
        if (profile is null)
        {
            if (ask.IsDefault) return null;
            throw new InvalidRequestException(ask.BudgetMs is null ? "tier" : "latency_budget_ms",
                "This orchestrator has no frontier profile loaded (Orchestrator:Profiles), so it cannot choose a schedule for a tier or " +
                    "a latency budget; " +
                "send small_fraction or stages instead, or configure a profile written by `tstitch sweep --profile`.");
        }
        // Steps and images are validated later by the trajectory; predict with sane values meanwhile.
        steps = Math.Clamp(steps, 1, TrajectoryLimits.MaxSteps);
        batch = Math.Max(1, batch);
        var front = Front(profile, steps, batch);
        var (index, reason) = ask switch
        {
            { BudgetMs: { } ms } => ForBudget(front, ms),
            { Tier: Tier.Best } => Best(front),
            { Tier: Tier.Balanced } => Balanced(front),
            { Tier: Tier.Fast } => (front.Count - 1, "tier fast: the fastest schedule on the front"),
            _ => ForDefault(front),
        };
        if (index == NotOnFront) return null; // a default faster than the whole front is never shifted
        int target = Shifted(front, index, shift, out int applied);
        if (ask.IsDefault && applied == 0) return null;
        var (point, predicted) = front[target];
        string text = $"{reason} (profile '{profile.Family}'); {point} predicted {predicted:F0} ms, FD {point.Fd:F3}";
        if (applied > 0) text += $"; load shift +{applied} from {(index >= 0 ? front[index].Point.ToString() : "the default")}";
        return new ScheduleChoice(point.Stages.Select(s => new SwitchStage(s.Pool, s.Fraction)).ToList(), text, applied, predicted);
    }

    private (int, string) Best(List<(FrontierPoint Point, double PredictedMs)> front)
    {
        // The all-large schedule is the reference quality; the lowest FD stands in if it was not profiled.
        int allLarge = front.FindIndex(f => f.Point.OffLargeFraction(_options.LargePool) == 0);
        return allLarge >= 0 ? (allLarge, "tier best: the all-large schedule") : (BestFd(front), "tier best: the lowest FD on the front");
    }

    private static int BestFd(List<(FrontierPoint Point, double PredictedMs)> front) =>
        front.IndexOf(front.MinBy(f => f.Point.Fd));

    private (int, string) Balanced(List<(FrontierPoint Point, double PredictedMs)> front)
    {
        var (best, _) = Best(front);
        double limit = front[best].Point.Fd * (1 + BalancedFdTolerance);
        int fastest = front.FindLastIndex(f => f.Point.Fd <= limit);
        return (Math.Max(best, fastest),
            $"tier balanced: the fastest schedule within {BalancedFdTolerance:P0} of the best FD {front[best].Point.Fd:F3}");
    }

    private static (int, string) ForBudget(List<(FrontierPoint Point, double PredictedMs)> front, double budget)
    {
        var fits = front.Select((f, i) => (f, i)).Where(x => x.f.PredictedMs <= budget).ToList();
        if (fits.Count == 0)
            return (front.Count - 1,
                $"no frontier schedule fits the budget of {budget:0.#} ms (the fastest is predicted at {front[^1].PredictedMs:F0} ms): " +
                    $"running the fastest");
        return (fits.MinBy(x => x.f.Point.Fd).i, $"budget {budget:0.#} ms: the best-quality schedule predicted to fit");
    }

    private const int NotOnFront = int.MinValue;

    /// <summary>
    /// Where a request with no schedule sits on the front: at the point with the default's small fraction,
    /// or just before the first point with more (that point is then shift 1). <see cref="NotOnFront"/>
    /// when the default has more small steps than the whole front.
    /// </summary>
    private (int, string) ForDefault(List<(FrontierPoint Point, double PredictedMs)> front)
    {
        double r = _options.DefaultSmallFraction;
        int at = front.FindIndex(f => f.Point.OffLargeFraction(_options.LargePool) >= r - 1e-9);
        if (at < 0) return (NotOnFront, "");
        bool onFront = Math.Abs(front[at].Point.OffLargeFraction(_options.LargePool) - r) < 1e-9;
        return (onFront ? at : at - 1, $"default schedule small:{r:0.###}");
    }

    /// <summary>
    /// <paramref name="shift"/> points faster than <paramref name="index"/>, counting only points within
    /// the worst schedule; a start already past the bound is never moved.
    /// </summary>
    private int Shifted(List<(FrontierPoint Point, double PredictedMs)> front, int index, int shift, out int applied)
    {
        applied = 0;
        int at = index;
        for (int i = index + 1; i < front.Count && applied < shift; i++)
        {
            if (front[i].Point.OffLargeFraction(_options.LargePool) > _options.WorstSchedule + 1e-9) continue;
            at = i;
            applied++;
        }
        return at;
    }

    /// <summary>How many points a default request can be shifted at most (what the controller caps its shift at).</summary>
    public int MaxShift(SamplerKind sampler, int steps, int batch)
    {
        var profile = profiles.For(sampler, steps);
        if (profile is null) return 0;
        var front = Front(profile, steps, batch);
        var (start, _) = ForDefault(front);
        if (start == NotOnFront) return 0;
        Shifted(front, start, int.MaxValue, out int max);
        return max;
    }
}
