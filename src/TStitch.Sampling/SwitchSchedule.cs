namespace TStitch.Sampling;

/// <summary>
/// T-Stitch's switch points: an ordered list of (model, fraction) stages covering all steps, e.g.
/// small 0.4 then large 0.6. Stage k runs sampling steps [round(c_{k-1} S), round(c_k S)) where c is
/// the cumulative fraction, so boundaries never drift and the last stage always ends at S.
/// </summary>
public sealed class SwitchSchedule
{
    private const double SumTolerance = 1e-6;

    public IReadOnlyList<SwitchStage> Stages { get; }

    public SwitchSchedule(IEnumerable<SwitchStage> stages)
    {
        ArgumentNullException.ThrowIfNull(stages);
        var list = stages.ToList();
        if (list.Count == 0)
            throw new InvalidRequestException("stages", "A switch schedule needs at least one stage.");
        double sum = 0;
        for (int k = 0; k < list.Count; k++)
        {
            var s = list[k];
            if (string.IsNullOrWhiteSpace(s.ModelId))
                throw new InvalidRequestException("stages", $"Stage {k} has an empty model id.");
            sum += TrajectoryLimits.Fraction(s.Fraction, $"stages[{k}].fraction");
        }
        if (Math.Abs(sum - 1) > SumTolerance)
            throw new InvalidRequestException("stages", $"Stage fractions must sum to 1, got {sum:R} ({string.Join(" + ",
                list.Select(s => $"{s.ModelId} {s.Fraction}"))}).");
        Stages = list;
    }

    /// <summary>
    /// The paper's two-model case: the first <paramref name="smallFraction"/> of steps on <paramref name="small"/>,
    /// the rest on <paramref name="large"/>. Which models those are is the caller's configuration.
    /// </summary>
    public static SwitchSchedule SmallThenLarge(double smallFraction, string small, string large) =>
        new([new(small, TrajectoryLimits.Fraction(smallFraction, "small_fraction")), new(large, 1 - smallFraction)]);

    /// <summary>One model for every step (what a pool replica runs for its stage).</summary>
    public static SwitchSchedule OneModel(string model) => new([new(model, 1)]);

    public IEnumerable<string> ModelIds => Stages.Select(s => s.ModelId).Distinct();

    /// <summary>First step of each stage plus S at the end: stage k covers [b[k], b[k+1]).</summary>
    public int[] Boundaries(int steps)
    {
        if (steps < 1) throw new ArgumentOutOfRangeException(nameof(steps), $"steps must be >= 1, got {steps}.");
        var b = new int[Stages.Count + 1];
        double cumulative = 0;
        for (int k = 0; k < Stages.Count; k++)
        {
            cumulative += Stages[k].Fraction;
            b[k + 1] = k == Stages.Count - 1 ? steps : (int)Math.Round(cumulative * steps, MidpointRounding.AwayFromZero);
            b[k + 1] = Math.Clamp(b[k + 1], b[k], steps);
        }
        return b;
    }

    /// <summary>The model that runs sampling step <paramref name="step"/> of <paramref name="steps"/>.</summary>
    public string ModelFor(int step, int steps)
    {
        if (step < 0 || step >= steps)
            throw new ArgumentOutOfRangeException(nameof(step), $"step must be in [0, {steps}), got {step}.");
        var b = Boundaries(steps);
        for (int k = 0; k < Stages.Count; k++)
            if (step < b[k + 1]) return Stages[k].ModelId;
        return Stages[^1].ModelId;
    }

    /// <summary>The stages as step ranges, in order; stages that round to no steps are left out.</summary>
    public IReadOnlyList<StageSpan> Spans(int steps)
    {
        var b = Boundaries(steps);
        var spans = new List<StageSpan>();
        for (int k = 0; k < Stages.Count; k++)
            if (b[k + 1] > b[k]) spans.Add(new StageSpan(Stages[k].ModelId, b[k], b[k + 1]));
        return spans;
    }

    /// <summary>
    /// How many steps each model runs (models named twice are summed); with <paramref name="completed"/>,
    /// how many of the first <paramref name="completed"/> steps each ran.
    /// </summary>
    public IReadOnlyDictionary<string, int> StepsPerModel(int steps, int? completed = null)
    {
        var b = Boundaries(steps);
        int upTo = Math.Clamp(completed ?? steps, 0, steps);
        var counts = new Dictionary<string, int>();
        for (int k = 0; k < Stages.Count; k++)
            counts[Stages[k].ModelId] = counts.GetValueOrDefault(Stages[k].ModelId) + Math.Max(0, Math.Min(b[k + 1], upTo) - b[k]);
        return counts;
    }

    public override string ToString() => string.Join(" -> ", Stages.Select(s => $"{s.ModelId}:{s.Fraction:0.###}"));
}
