using System.Text.Json;
using System.Text.Json.Serialization;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// A job as the orchestrator understands it: the wire request mapped and validated once, at submit
/// (<see cref="JobRequestMapping"/>), with every default filled in. The job record stores this, so a
/// job resumed by another orchestrator (or another version) runs exactly what was accepted.
/// </summary>
public sealed record JobSpec(
    IReadOnlyList<int> ClassLabels,
    int Steps,
    SamplerKind Sampler,
    IReadOnlyList<SwitchStage> Stages,
    float GuidanceScale,
    ulong Seed,
    double Eta,
    ResultFormat Output)
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { Converters = { new JsonStringEnumConverter() } };

    // The schedule-choice and prompt fields are left out when unset, so earlier specs serialise as before.

    /// <summary>A text family's prompts (one image each), instead of <see cref="ClassLabels"/>; null for class labels.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public IReadOnlyList<string>? Prompts { get; init; }

    /// <summary>The unconditional half of guidance for every prompt; null or empty = the empty prompt.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? NegativePrompt { get; init; }

    /// <summary>
    /// What the request left to the orchestrator ("tier:balanced", "budget:120ms", "default" under
    /// load-adaptive mode); null when it named its schedule. <see cref="Stages"/> holds what was chosen.
    /// </summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? ScheduleAsk { get; init; }

    /// <summary>Why <see cref="Stages"/> were chosen (null for an explicit schedule).</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public string? ScheduleReason { get; init; }

    /// <summary>Frontier points the load controller shifted the choice by at submit.</summary>
    [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingDefault)]
    public int LoadShift { get; init; }

    public SwitchSchedule Schedule => new(Stages);

    /// <summary>Images the job makes: one per prompt or per class label.</summary>
    public int Batch => Prompts?.Count ?? ClassLabels.Count;

    /// <summary>
    /// The job's trajectory. A text job's comes with its prompts' embeddings (the text encoder's output,
    /// made when it runs); checks made before that pass stand-ins of the right shape (<see cref="PromptEncoder.StandIn"/>).
    /// </summary>
    public TrajectoryRequest ToTrajectory(PromptEmbeddings? prompts = null) =>
        new(ClassLabels, Steps, Sampler, Schedule, GuidanceScale, Seed, Eta) { Prompts = prompts };

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static JobSpec FromJson(string json) =>
        JsonSerializer.Deserialize<JobSpec>(json, Json) ?? throw new InvalidDataException("A stored job spec is empty.");

    /// <summary>
    /// Same request, value for value (records compare lists by reference, so compare their canonical JSON).
    /// A schedule the orchestrator chose is not part of the request: resubmitting the same tier or budget
    /// finds the job even if load or timings would choose differently now.
    /// </summary>
    public bool SameAs(JobSpec other) => Request().ToJson() == other.Request().ToJson();

    private JobSpec Request() => ScheduleAsk is null ? this : this with { Stages = [new("(chosen)",
        1)], ScheduleReason = null, LoadShift = 0 };
}
