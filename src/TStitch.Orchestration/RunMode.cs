namespace TStitch.Orchestration;

/// <summary>How the orchestrator drives a trajectory over the pools.</summary>
public enum RunMode
{
    /// <summary>One stage run per stage: the pool runs its steps itself and streams progress and checkpoints (one hop per stage).</summary>
    Stage,
    /// <summary>One Denoise call per step, the sampler step here (one hop per step; per-step control).</summary>
    Step,
}
