using TStitch.Contracts;

namespace TStitch.Orchestration.Frontier;

/// <summary>What a request left to the orchestrator: a tier, a latency budget, or no schedule at all.</summary>
public sealed record ScheduleAsk(Tier Tier = Tier.Unspecified, double? BudgetMs = null)
{
    public static readonly ScheduleAsk Default = new();

    public bool IsDefault => Tier == Tier.Unspecified && BudgetMs is null;

    /// <summary>How the job spec records the ask ("tier:balanced", "budget:120ms", "default").</summary>
    public override string ToString() =>
        BudgetMs is { } ms ? $"budget:{ms:0.###}ms" : Tier == Tier.Unspecified ? "default" : $"tier:{Name(Tier)}";

    public static string Name(Tier tier) => tier.ToString().ToLowerInvariant();
}
