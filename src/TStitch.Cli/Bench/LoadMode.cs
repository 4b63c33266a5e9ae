using TStitch.Contracts;

namespace TStitch.Cli.Bench;

/// <summary>
/// One side of the adaptive load benchmark: the settings its orchestrator starts with and the requests
/// it is sent. Fixed all-large sends an explicit small_fraction of 0, which the orchestrator never
/// moves; load-adaptive sends no schedule at all, so its orchestrator (whose default is all-large) may
/// shift it along the frontier.
/// </summary>
internal sealed record LoadMode(string Name, bool Adaptive, IReadOnlyList<string> OrchestratorArgs)
{
    /// <summary>
    /// Job <paramref name="index"/> as this mode sends it: the same images, labels and seed on both sides, only the schedule field differs.
    /// </summary>
    public GenerateRequest Request(int index, int images, int steps)
    {
        var request = AdaptiveLoadSetup.Job(index, images, steps);
        if (!Adaptive) request.SmallFraction = 0;
        return request;
    }
}
