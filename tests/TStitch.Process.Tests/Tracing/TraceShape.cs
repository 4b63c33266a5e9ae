using TStitch.Process.Tests.Otlp;
using static OpenTelemetry.Proto.Trace.V1.Span.Types;
using static TStitch.Process.Tests.ProcessCluster;

namespace TStitch.Process.Tests.Tracing;

/// <summary>
/// The expected shape of one job's trace, in one place. Today the orchestrator makes one Denoise RPC
/// per step, so every model run sits at the end of
///     job -> trajectory.step -> gRPC client call -> ASP.NET Core server span (denoiser process) -> denoise.
/// When stages run inside the pools (one stage RPC per stage), re-point <see cref="ModelRunChain"/>
/// and <see cref="LooksComplete"/>; the tests only call <see cref="AssertJobTrace"/>.
/// </summary>
public static class TraceShape
{
    public static readonly SpanMatch Job = SpanMatch.Named("job", Orchestrator);
    public static readonly SpanMatch Step = SpanMatch.Named("trajectory.step", Orchestrator);
    public static readonly SpanMatch DenoiseCall = SpanMatch.Kind(SpanKind.Client, "tstitch.v1.Denoiser/Denoise", Orchestrator);
    public static readonly SpanMatch DenoiseServed = SpanMatch.Kind(SpanKind.Server, "tstitch.v1.Denoiser/Denoise", Small, Large);
    public static readonly SpanMatch Denoise = SpanMatch.Named("denoise", Small, Large);

    /// <summary>From the root down to each span where a model runs.</summary>
    public static SpanMatch[] ModelRunChain => [Job, Step, DenoiseCall, DenoiseServed, Denoise];

    /// <summary>Every process of the cluster takes part in a stitched job.</summary>
    public static readonly string[] Services = [Orchestrator, Small, Large];

    /// <summary>All of a job's spans have arrived (for a bounded wait before <see cref="AssertJobTrace"/>).</summary>
    public static bool LooksComplete(SpanTrace trace, int steps) =>
        trace.Named("job").Count == 1 && trace.Spans.Count(Step.Matches) == steps && trace.Spans.Count(Denoise.Matches) == steps
        && trace.Orphans.Count == 0;

    /// <summary>
    /// The job span is the trace's only root, every span chains up to it, spans come from all three
    /// services, every model run is reached through <see cref="ModelRunChain"/>, there is one step
    /// span per step, the steps' models follow the schedule, and each step's model ran in its pool.
    /// </summary>
    public static void AssertJobTrace(SpanTrace trace, string jobId, int steps, IReadOnlyDictionary<string, int> stepsPerModel)
    {
        var root = TraceAssert.SingleRoot(trace, Job);
        Assert.Equal(jobId, root.Attribute("tstitch.job"));
        TraceAssert.AllUnder(trace, root);
        TraceAssert.Services(trace, Services);
        TraceAssert.Chain(trace, ModelRunChain);
        var stepSpans = TraceAssert.Count(trace, Step, steps);
        var perModel = stepSpans.GroupBy(s => s.Attribute("tstitch.model") ?? "(none)").ToDictionary(g => g.Key, g => g.Count());
        if (!perModel.OrderBy(p => p.Key).SequenceEqual(stepsPerModel.OrderBy(p => p.Key)))
            TraceAssert.Fail(trace, $"Steps per model: expected {Show(stepsPerModel)}, got {Show(perModel)}.");
        foreach (var step in stepSpans)
        {
            var pool = $"{step.Attribute("tstitch.model")}-denoiser";
            var runs = trace.Spans.Where(s => Denoise.Matches(s) && trace.PathFromTop(s).Any(a => a.SpanId == step.SpanId)).ToList();
            if (runs.Count != 1 || runs[0].Service != pool)
                TraceAssert.Fail(trace, $"Step {step.Attribute("tstitch.step")} ({step.Attribute("tstitch.model")}) should have one denoise span in {pool}; it has: {string.Join("; ", runs)}.");
        }
    }

    private static string Show(IReadOnlyDictionary<string, int> counts) => "{" + string.Join(", ", counts.OrderBy(p => p.Key).Select(p => $"{p.Key}: {p.Value}")) + "}";
}
