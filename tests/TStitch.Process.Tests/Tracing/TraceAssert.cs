using TStitch.Process.Tests.Otlp;

namespace TStitch.Process.Tests.Tracing;

/// <summary>Assertions on the shape of one trace; every failure message ends with the rendered tree.</summary>
public static class TraceAssert
{
    /// <summary>The trace has exactly one root, it matches <paramref name="expected"/>, and no span's parent is missing.</summary>
    public static ReceivedSpan SingleRoot(SpanTrace trace, SpanMatch expected)
    {
        var roots = trace.Roots;
        if (roots.Count != 1 || !expected.Matches(roots[0]))
            Fail(trace, $"Expected one root span, {expected}; the roots are: {List(roots)}.");
        if (trace.Orphans.Count > 0)
            Fail(trace, $"Spans whose parent is not in the trace (context lost or parent not recorded): {List(trace.Orphans)}.");
        return roots[0];
    }

    /// <summary>Every span of the trace chains up through parent ids to <paramref name="root"/>.</summary>
    public static void AllUnder(SpanTrace trace, ReceivedSpan root)
    {
        var strays = trace.Spans.Where(s => !trace.Descends(s, root)).ToList();
        if (strays.Count > 0) Fail(trace, $"Spans that do not chain up to {root}: {List(strays)}.");
    }

    /// <summary>
    /// Every span matching the last element of <paramref name="chain"/> sits exactly at the end of
    /// that chain: its ancestors from the root down match the elements in order. There is at least one.
    /// </summary>
    public static IReadOnlyList<ReceivedSpan> Chain(SpanTrace trace, params SpanMatch[] chain)
    {
        var leaves = trace.Spans.Where(chain[^1].Matches).ToList();
        if (leaves.Count == 0) Fail(trace, $"No {chain[^1]} span in the trace.");
        var expected = string.Join(" -> ", chain.Select(c => c.ToString()));
        foreach (var leaf in leaves)
        {
            var path = trace.PathFromTop(leaf);
            if (path.Count != chain.Length || !path.Zip(chain).All(p => p.Second.Matches(p.First)))
                Fail(trace, $"Expected the chain {expected}\nfor {leaf},\n" +
                    $"but its path from the top is: {string.Join(" -> ", path.Select(s => $"'{s.Name}' [{s.Service}, {s.Kind}]"))}.");
        }
        return leaves;
    }

    /// <summary>The trace holds spans from exactly these services.</summary>
    public static void Services(SpanTrace trace, params string[] services)
    {
        if (!trace.Services.SequenceEqual(services.Order()))
            Fail(trace,
                $"Expected spans from [{string.Join(", ", services.Order())}], got them from [{string.Join(", ", trace.Services)}].");
    }

    /// <summary>Exactly <paramref name="expected"/> spans match.</summary>
    public static IReadOnlyList<ReceivedSpan> Count(SpanTrace trace, SpanMatch match, int expected)
    {
        var found = trace.Spans.Where(match.Matches).ToList();
        if (found.Count != expected) Fail(trace, $"Expected {expected} {match} spans, found {found.Count}.");
        return found;
    }

    public static void Fail(SpanTrace trace, string message) => Assert.Fail($"{message}\n\n{SpanTreeRenderer.Render(trace)}");

    private static string List(IEnumerable<ReceivedSpan> spans) => spans.Any() ? string.Join("; ", spans) : "(none)";
}
