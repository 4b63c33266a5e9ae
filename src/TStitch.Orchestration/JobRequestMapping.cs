using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// GenerateRequest (wire) -> <see cref="JobSpec"/> (domain), once, at submit. Each rule is checked by
/// the library that owns it (<see cref="TrajectoryLimits"/>, <see cref="SwitchSchedule"/>,
/// <see cref="Sampler.Parse"/>); what is the orchestrator's own (its pools, its batch limit, which pools
/// small_fraction means) is checked here.
/// </summary>
public static class JobRequestMapping
{
    public static (string Id, JobSpec Spec) ToJob(GenerateRequest request, OrchestratorOptions options)
    {
        string id = string.IsNullOrEmpty(request.JobId) ? JobIds.New() : JobIds.Check(request.JobId);
        if (request.ClassLabels.Count > options.MaxImagesPerRequest)
            throw new InvalidRequestException("class_labels",
                $"class_labels asks for {request.ClassLabels.Count} images; this orchestrator's maximum batch is {options.MaxImagesPerRequest} (Orchestrator:MaxImagesPerRequest).");
        var schedule = request.SwitchScheduleCase switch
        {
            GenerateRequest.SwitchScheduleOneofCase.Stages => new SwitchSchedule(request.Stages.Stages.Select(s => new SwitchStage(s.Pool, s.Fraction))),
            GenerateRequest.SwitchScheduleOneofCase.SmallFraction => SwitchSchedule.SmallThenLarge(request.SmallFraction, options.SmallPool, options.LargePool),
            _ => SwitchSchedule.SmallThenLarge(options.DefaultSmallFraction, options.SmallPool, options.LargePool),
        };
        foreach (var pool in schedule.ModelIds)
            if (!options.Pools.ContainsKey(pool))
                throw new InvalidRequestException(request.SwitchScheduleCase == GenerateRequest.SwitchScheduleOneofCase.Stages ? "stages" : "small_fraction",
                    $"The schedule names pool '{pool}', which this orchestrator does not have (pools: {string.Join(", ", options.Pools.Keys)}).");
        var spec = new JobSpec(
            request.ClassLabels.ToArray(),
            request.Steps,
            string.IsNullOrWhiteSpace(request.Sampler) ? SamplerKind.Ddim : Sampler.Parse(request.Sampler),
            schedule.Stages,
            request.HasGuidanceScale ? request.GuidanceScale : 1f,
            request.Seed,
            request.Eta,
            Output(request.Output));
        spec.ToTrajectory().Validate();
        return (id, spec);
    }

    private static ResultFormat Output(OutputKind kind) => kind switch
    {
        OutputKind.Png => ResultFormat.Png,
        OutputKind.Raw => ResultFormat.Raw,
        OutputKind.PngAndRaw => ResultFormat.PngAndRaw,
        _ => throw new InvalidRequestException("output", $"output {(int)kind} is not an OutputKind; use OUTPUT_KIND_PNG, OUTPUT_KIND_RAW or OUTPUT_KIND_PNG_AND_RAW."),
    };
}
