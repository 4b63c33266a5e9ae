using TStitch.Contracts;
using TStitch.Orchestration.Frontier;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// GenerateRequest (wire) -> <see cref="JobSpec"/> (domain), once, at submit. Each rule is checked by
/// the library that owns it (<see cref="TrajectoryLimits"/>, <see cref="SwitchSchedule"/>,
/// <see cref="Sampler.Parse"/>); what is the orchestrator's own (its pools, its batch limit, which pools
/// small_fraction means) is checked here. A tier, a latency budget or (in load-adaptive mode) no
/// schedule is turned into a concrete schedule here too, once: the job runs what was chosen at submit.
/// </summary>
public static class JobRequestMapping
{
    public static (string Id, JobSpec Spec) ToJob(GenerateRequest request, OrchestratorOptions options,
        ScheduleChooser? chooser = null, LoadController? load = null)
    {
        string id = string.IsNullOrEmpty(request.JobId) ? JobIds.New() : JobIds.Check(request.JobId);
        bool text = request.Prompts.Count > 0;
        if (text && request.ClassLabels.Count > 0)
            throw new InvalidRequestException("prompts", "Give prompts (text families) or class_labels (class families), not both.");
        if (!text && !string.IsNullOrEmpty(request.NegativePrompt))
            throw new InvalidRequestException("negative_prompt",
                "negative_prompt needs prompts; class_labels are guided by the null class.");
        // An orchestrator with a text encoder serves a text family: an empty request lacks prompts there.
        string batchField = text || (request.ClassLabels.Count == 0 && options.TextEncoder.Length > 0) ? "prompts" : "class_labels";
        int images = text ? request.Prompts.Count : request.ClassLabels.Count;
        if (images == 0)
            throw new InvalidRequestException(batchField,
                $"{batchField} is empty: ask for at least one image (prompts for a text family, class_labels for a class family).");
        if (images > options.MaxImagesPerRequest)
            throw new InvalidRequestException(batchField,
                $"{batchField} asks for {images} images; this orchestrator's maximum batch is " +
                    $"{options.MaxImagesPerRequest} (Orchestrator:MaxImagesPerRequest).");
        var sampler = string.IsNullOrWhiteSpace(request.Sampler) ? SamplerKind.Ddim : Sampler.Parse(request.Sampler);
        var (ask, choice) = Choose(request, sampler, options, chooser, load);
        var schedule = choice is not null ? new SwitchSchedule(choice.Stages) : request.SwitchScheduleCase switch
        {
            GenerateRequest.SwitchScheduleOneofCase.Stages => new SwitchSchedule(request.Stages.Stages.Select(s => new SwitchStage(s.Pool,
                s.Fraction))),
            GenerateRequest.SwitchScheduleOneofCase.SmallFraction => SwitchSchedule.SmallThenLarge(request.SmallFraction,
                options.SmallPool, options.LargePool),
            _ => SwitchSchedule.SmallThenLarge(options.DefaultSmallFraction, options.SmallPool, options.LargePool),
        };
        foreach (var pool in schedule.ModelIds)
            if (!options.Pools.ContainsKey(pool))
                throw new InvalidRequestException(
                    request.SwitchScheduleCase == GenerateRequest.SwitchScheduleOneofCase.Stages ? "stages" : "small_fraction",
                    $"The schedule names pool '{pool}', which this orchestrator does not have (pools: " +
                        $"{string.Join(", ", options.Pools.Keys)}).");
        var spec = new JobSpec(
            request.ClassLabels.ToArray(),
            request.Steps,
            sampler,
            schedule.Stages,
            request.HasGuidanceScale ? request.GuidanceScale : 1f,
            request.Seed,
            request.Eta,
            Output(request.Output))
        {
            ScheduleAsk = ask?.ToString(),
            ScheduleReason = choice?.Reason ?? (ask is not null ? $"default schedule {schedule} (no load shift)" : null),
            LoadShift = choice?.Shift ?? 0,
            Prompts = text ? request.Prompts.ToArray() : null,
            NegativePrompt = text && request.NegativePrompt.Length > 0 ? request.NegativePrompt : null,
        };
        spec.ToTrajectory(text ? PromptEncoder.StandIn(spec.Batch) : null).Validate();
        return (id, spec);
    }

    /// <summary>
    /// What the request leaves to the orchestrator and what the frontier picks for it. Explicit schedules
    /// (stages, small_fraction) are never touched; a request with no schedule is the orchestrator's to
    /// move only in load-adaptive mode.
    /// </summary>
    private static (ScheduleAsk? Ask, ScheduleChoice? Choice) Choose(GenerateRequest request, SamplerKind sampler,
        OrchestratorOptions options,
        ScheduleChooser? chooser, LoadController? load)
    {
        var ask = request.SwitchScheduleCase switch
        {
            GenerateRequest.SwitchScheduleOneofCase.Tier => new ScheduleAsk(request.Tier),
            GenerateRequest.SwitchScheduleOneofCase.LatencyBudgetMs => new ScheduleAsk(BudgetMs: request.LatencyBudgetMs),
            GenerateRequest.SwitchScheduleOneofCase.None when load is { Enabled: true } => ScheduleAsk.Default,
            _ => null,
        };
        if (ask is null) return (null, null);
        if (request.SwitchScheduleCase == GenerateRequest.SwitchScheduleOneofCase.Tier && request.Tier == Tier.Unspecified)
            throw new InvalidRequestException("tier",
                "tier is TIER_UNSPECIFIED; use TIER_BEST, TIER_BALANCED or TIER_FAST (or leave the schedule out).");
        chooser ??= new ScheduleChooser(FrontierProfiles.None, new PoolStepTimes(), Microsoft.Extensions.Options.Options.Create(options));
        return (ask, chooser.Choose(ask, sampler, request.Steps,
            Math.Max(request.ClassLabels.Count, request.Prompts.Count), load?.Shift ?? 0));
    }

    private static ResultFormat Output(OutputKind kind) => kind switch
    {
        OutputKind.Png => ResultFormat.Png,
        OutputKind.Raw => ResultFormat.Raw,
        OutputKind.PngAndRaw => ResultFormat.PngAndRaw,
        _ => throw new InvalidRequestException("output",
            $"output {(int)kind} is not an OutputKind; use OUTPUT_KIND_PNG, OUTPUT_KIND_RAW or OUTPUT_KIND_PNG_AND_RAW."),
    };
}
