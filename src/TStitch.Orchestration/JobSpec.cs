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

    public SwitchSchedule Schedule => new(Stages);

    public TrajectoryRequest ToTrajectory() => new(ClassLabels, Steps, Sampler, Schedule, GuidanceScale, Seed, Eta);

    public string ToJson() => JsonSerializer.Serialize(this, Json);

    public static JobSpec FromJson(string json) =>
        JsonSerializer.Deserialize<JobSpec>(json, Json) ?? throw new InvalidDataException("A stored job spec is empty.");

    /// <summary>Same request, value for value (records compare lists by reference, so compare their canonical JSON).</summary>
    public bool SameAs(JobSpec other) => ToJson() == other.ToJson();
}
