using System.Text.Json;
using System.Text.Json.Serialization;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// The measured speed/quality frontier of one model family (written by `tstitch sweep --profile`, read
/// by the orchestrator from <see cref="OrchestratorOptions.Profiles"/>): every schedule the sweep ran,
/// its quality and latency, the Pareto front marked, and each pool's measured cost per step.
/// </summary>
public sealed record FrontierProfile
{
    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        NumberHandling = JsonNumberHandling.AllowNamedFloatingPointLiterals,
    };

    /// <summary>A name for the model family, e.g. "zoo ddim-50".</summary>
    public string Family { get; init; } = "";
    /// <summary>ddim | ddpm | dpm-solver++ (as a request names it).</summary>
    public string Sampler { get; init; } = "";
    public int Steps { get; init; }
    /// <summary>Images per point the quality was measured on.</summary>
    public int Samples { get; init; }
    /// <summary>Images per request (or per in-process batch) when the latencies were measured.</summary>
    public int Batch { get; init; }
    /// <summary>"in-process" or the orchestrator address the latencies were measured through.</summary>
    public string MeasuredOn { get; init; } = "";
    /// <summary>Pool -> measured milliseconds per step per image (a job of B images costs steps x this x B).</summary>
    public Dictionary<string, double> StepMsPerImage { get; init; } = new();
    public List<FrontierPoint> Points { get; init; } = [];

    [JsonIgnore]
    public IEnumerable<FrontierPoint> Front => Points.Where(p => p.Pareto);

    public string ToJson() => JsonSerializer.Serialize(this, Json);
}
