using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>GenerateRequest (wire) -> TrajectoryRequest (maths), with errors that name the field.</summary>
public static class RequestMapping
{
    public static TrajectoryRequest ToTrajectory(GenerateRequest request, IReadOnlyCollection<string> pools, int maxBatch)
    {
        if (request.ClassLabels.Count == 0)
            throw new ArgumentException("class_labels is empty: ask for at least one image.", "class_labels");
        if (request.ClassLabels.Count > maxBatch)
            throw new ArgumentException($"class_labels asks for {request.ClassLabels.Count} images; this orchestrator's maximum batch is {maxBatch}.", "class_labels");
        if (request.Steps < 1 || request.Steps > SamplingPlan.MaxSteps)
            throw new ArgumentException($"steps must be between 1 and {SamplingPlan.MaxSteps}, got {request.Steps}.", "steps");
        var schedule = request.SwitchScheduleCase switch
        {
            GenerateRequest.SwitchScheduleOneofCase.Stages => Stages(request.Stages),
            GenerateRequest.SwitchScheduleOneofCase.SmallFraction => SmallFraction(request.SmallFraction),
            _ => SwitchSchedule.SmallThenLarge(0.4),
        };
        foreach (var pool in schedule.ModelIds)
            if (!pools.Contains(pool))
                throw new ArgumentException($"stages names pool '{pool}', which this orchestrator does not have (pools: {string.Join(", ", pools)}).", "stages");
        float guidance = request.HasGuidanceScale ? request.GuidanceScale : 1f;
        if (!float.IsFinite(guidance) || guidance < 0)
            throw new ArgumentException($"guidance_scale must be a finite number >= 0, got {guidance}.", "guidance_scale");
        if (double.IsNaN(request.Eta) || request.Eta < 0 || request.Eta > 1)
            throw new ArgumentException($"eta must be in [0, 1], got {request.Eta}.", "eta");
        var sampler = string.IsNullOrWhiteSpace(request.Sampler) ? SamplerKind.Ddim : ParseSampler(request.Sampler);
        return new TrajectoryRequest(request.ClassLabels.ToArray(), request.Steps, sampler, schedule, guidance, request.Seed, request.Eta);
    }

    private static SwitchSchedule SmallFraction(double r)
    {
        if (double.IsNaN(r) || r < 0 || r > 1)
            throw new ArgumentException($"small_fraction must be in [0, 1], got {r}.", "small_fraction");
        return SwitchSchedule.SmallThenLarge(r);
    }

    private static SwitchSchedule Stages(StageList stages)
    {
        try { return new SwitchSchedule(stages.Stages.Select(s => new SwitchStage(s.Pool, s.Fraction))); }
        catch (ArgumentException ex) { throw new ArgumentException($"stages: {ex.Message}", "stages", ex); }
    }

    private static SamplerKind ParseSampler(string name)
    {
        try { return Sampler.Parse(name); }
        catch (ArgumentException ex) { throw new ArgumentException($"sampler: {ex.Message}", "sampler", ex); }
    }
}
