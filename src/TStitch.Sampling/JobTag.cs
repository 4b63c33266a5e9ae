using System.Diagnostics;

namespace TStitch.Sampling;

/// <summary>
/// The job id span tag ("tstitch.job"). Spans opened by code that does not know its job (a trajectory
/// step, a batcher call behind <see cref="IDenoiser"/>) copy it from the nearest in-process ancestor
/// that set it (job, stage, stage.run, denoise), so every span of a job can be found by its id.
/// </summary>
public static class JobTag
{
    public const string Name = "tstitch.job";

    /// <summary>Sets the tag on <paramref name="span"/> from its nearest ancestor that has it; no-op if none does.</summary>
    public static void Inherit(Activity? span)
    {
        if (span is null || span.GetTagItem(Name) is not null) return;
        for (var parent = span.Parent; parent is not null; parent = parent.Parent)
            if (parent.GetTagItem(Name) is { } job)
            {
                span.SetTag(Name, job);
                return;
            }
    }
}
