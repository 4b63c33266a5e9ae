using TStitch.Process.Tests.Otlp;
using static OpenTelemetry.Proto.Trace.V1.Span.Types;
using static TStitch.Process.Tests.ProcessCluster;

namespace TStitch.Process.Tests.Tracing;

/// <summary>
/// The expected shape of one job's trace, in one place. The orchestrator runs each stage inside its
/// pool (one RunStage call per stage), so every model call sits at the end of
///     job -> stage -> RunStage client call -> RunStage server span (denoiser process) -> stage.run
///        -> trajectory.step -> batcher.call
/// with the step spans in the denoiser process that ran them, and each of our own spans tagged with the job id.
/// </summary>
public static class TraceShape
{
    public static readonly SpanMatch Job = SpanMatch.Named("job", Orchestrator);
    public static readonly SpanMatch Stage = SpanMatch.Named("stage", Orchestrator);
    public static readonly SpanMatch StageCall = SpanMatch.Kind(SpanKind.Client, "tstitch.v1.Denoiser/RunStage", Orchestrator);
    public static readonly SpanMatch StageServed = SpanMatch.Kind(SpanKind.Server, "tstitch.v1.Denoiser/RunStage", Small, Large);
    public static readonly SpanMatch StageRun = SpanMatch.Named("stage.run", Small, Large);
    public static readonly SpanMatch Step = SpanMatch.Named("trajectory.step", Small, Large);
    public static readonly SpanMatch ModelCall = SpanMatch.Named("batcher.call", Small, Large);

    /// <summary>From the root down to each span where a model runs.</summary>
    public static SpanMatch[] ModelRunChain => [Job, Stage, StageCall, StageServed, StageRun, Step, ModelCall];

    /// <summary>Our own spans (not gRPC's): each names its job in tstitch.job, set or inherited from its caller's span.</summary>
    public static SpanMatch[] OwnSpans => [Job, Stage, StageRun, Step, ModelCall];

    /// <summary>Every process of the cluster takes part in a stitched job.</summary>
    public static readonly string[] Services = [Orchestrator, Small, Large];

    /// <summary>All of a job's spans have arrived (for a bounded wait before <see cref="AssertJobTrace"/>).</summary>
    public static bool LooksComplete(SpanTrace trace, int steps, int stages) =>
        trace.Named("job").Count == 1 && trace.Spans.Count(Stage.Matches) == stages && trace.Spans.Count(Step.Matches) == steps
        && trace.Spans.Count(ModelCall.Matches) == steps && trace.Orphans.Count == 0;

    /// <summary>
    /// The job span is the trace's only root, every span chains up to it, spans come from all three
    /// services, every model call is reached through <see cref="ModelRunChain"/>, there is one stage span
    /// per stage and one step span per step, the steps' models follow the schedule, and each step ran
    /// in its pool's process.
    /// </summary>
    public static void AssertJobTrace(SpanTrace trace, string jobId, int steps, IReadOnlyDictionary<string, int> stepsPerModel)
    {
        var root = TraceAssert.SingleRoot(trace, Job);
        Assert.Equal(jobId, root.Attribute("tstitch.job"));
        TraceAssert.AllUnder(trace, root);
        TraceAssert.Services(trace, Services);
        TraceAssert.Chain(trace, ModelRunChain);
        var stages = TraceAssert.Count(trace, Stage, stepsPerModel.Count);
        foreach (var stage in stages)
            if (stage.Attribute("tstitch.job") != jobId || stage.Attribute("tstitch.pool") is null)
                TraceAssert.Fail(trace, $"Stage span {stage} should carry tstitch.job={jobId} and its pool.");
        var stepSpans = TraceAssert.Count(trace, Step, steps);
        var perModel = stepSpans.GroupBy(s => s.Attribute("tstitch.model") ?? "(none)").ToDictionary(g => g.Key, g => g.Count());
        if (!perModel.OrderBy(p => p.Key).SequenceEqual(stepsPerModel.OrderBy(p => p.Key)))
            TraceAssert.Fail(trace, $"Steps per model: expected {Show(stepsPerModel)}, got {Show(perModel)}.");
        foreach (var step in stepSpans)
            if (step.Service != $"{step.Attribute("tstitch.model")}-denoiser")
                TraceAssert.Fail(trace, $"Step {step} ran in {step.Service}, not in its model's pool.");
        foreach (var span in trace.Spans.Where(s => s.StatusCode == OpenTelemetry.Proto.Trace.V1.Status.Types.StatusCode.Error))
            TraceAssert.Fail(trace, $"Span {span} of a job that succeeded has an error status: {span.StatusMessage}");
        foreach (var span in trace.Spans.Where(s => OwnSpans.Any(m => m.Matches(s))))
            if (span.Attribute("tstitch.job") != jobId)
                TraceAssert.Fail(trace, $"Span {span} should carry tstitch.job={jobId}, has '{span.Attribute("tstitch.job")}'.");
    }

    private static string Show(IReadOnlyDictionary<string, int> counts) =>
        "{" + string.Join(", ", counts.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}")) + "}";
}
