using System.Text.Json;
using TStitch.Sampling;

namespace TStitch.Orchestration.Frontier;

/// <summary>
/// The frontier profiles an orchestrator serves tiers and latency budgets from
/// (<see cref="OrchestratorOptions.Profiles"/>: files, or folders of *.json files). Loading validates
/// every profile; a malformed one fails start-up with the file and what is wrong with it.
/// </summary>
public sealed class FrontierProfiles
{
    public static readonly FrontierProfiles None = new([]);

    public IReadOnlyList<(string Path, FrontierProfile Profile)> Loaded { get; }

    public FrontierProfiles(IReadOnlyList<(string Path, FrontierProfile Profile)> loaded) => Loaded = loaded;

    public bool IsEmpty => Loaded.Count == 0;

    /// <summary>
    /// The profile for a request: same sampler and steps, else same sampler, else the first one
    /// (schedules are fractions, so they carry over to other step counts; latencies scale with steps).
    /// </summary>
    public FrontierProfile? For(SamplerKind sampler, int steps)
    {
        var same = Loaded.Select(l => l.Profile).Where(p => Sampler.Parse(p.Sampler) == sampler).ToList();
        return same.Find(p => p.Steps == steps) ?? (same.Count > 0 ? same[0] : Loaded.Count > 0 ? Loaded[0].Profile : null);
    }

    /// <summary>Loads and validates; throws <see cref="InvalidDataException"/> naming every file's problems.</summary>
    public static FrontierProfiles Load(IEnumerable<string> entries, IReadOnlyCollection<string> pools)
    {
        var errors = new List<string>();
        var loaded = new List<(string, FrontierProfile)>();
        foreach (var path in Expand(entries, errors))
        {
            var (profile, problems) = Read(path, pools);
            if (problems.Count > 0) errors.Add($"Frontier profile '{path}': {string.Join("; ", problems)}.");
            else loaded.Add((path, profile!));
        }
        if (errors.Count > 0) throw new InvalidDataException(string.Join(Environment.NewLine, errors));
        return new FrontierProfiles(loaded);
    }

    /// <summary>What is wrong with the configured profiles (empty: nothing), for options validation at start.</summary>
    public static IReadOnlyList<string> Check(IEnumerable<string> entries, IReadOnlyCollection<string> pools)
    {
        try
        {
            Load(entries, pools);
            return [];
        }
        catch (InvalidDataException ex)
        {
            return ex.Message.Split(Environment.NewLine);
        }
    }

    /// <summary>Entries are files or folders (their *.json files, sorted), comma-separated lists allowed.</summary>
    private static List<string> Expand(IEnumerable<string> entries, List<string> errors)
    {
        var files = new List<string>();
        foreach (var entry in entries.SelectMany(e => e.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)))
        {
            if (Directory.Exists(entry))
            {
                var found = Directory.GetFiles(entry, "*.json").Order(StringComparer.Ordinal).ToList();
                if (found.Count == 0) errors.Add($"Frontier profile folder '{entry}' holds no *.json file.");
                files.AddRange(found);
            }
            else if (File.Exists(entry)) files.Add(entry);
            else errors.Add($"Frontier profile '{entry}' does not exist (Orchestrator:Profiles lists files or folders).");
        }
        return files;
    }

    internal static (FrontierProfile? Profile, List<string> Problems) Read(string path, IReadOnlyCollection<string> pools)
    {
        FrontierProfile? profile;
        try
        {
            profile = JsonSerializer.Deserialize<FrontierProfile>(File.ReadAllText(path), FrontierProfile.Json);
        }
        catch (JsonException ex)
        {
            return (null, [$"not valid profile JSON ({ex.Message})"]);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, [$"cannot be read ({ex.Message})"]);
        }
        if (profile is null) return (null, ["the file holds JSON null, not a profile"]);
        return (profile, Validate(profile, pools));
    }

    /// <summary>Every rule a profile must meet, each problem named by its JSON path.</summary>
    public static List<string> Validate(FrontierProfile profile, IReadOnlyCollection<string> pools)
    {
        // JSON null reaches these non-nullable members as null: named here, before anything reads them.
        var missing = new (string Name, object? Value)[]
            { ("sampler", profile.Sampler), ("stepMsPerImage", profile.StepMsPerImage), ("points", profile.Points) }
            .Where(m => m.Value is null).Select(m => $"{m.Name} is missing or null").ToList();
        if (missing.Count > 0) return missing;
        var problems = new List<string>();
        try { Sampler.Parse(profile.Sampler); }
        catch (InvalidRequestException) { problems.Add($"sampler '{profile.Sampler}' is not ddim, ddpm or dpm-solver++"); }
        if (profile.Steps is < 1 or > TrajectoryLimits.MaxSteps) problems.Add($"steps must be in [1, {TrajectoryLimits.MaxSteps}], got " +
            $"{profile.Steps}");
        if (profile.Batch < 1) problems.Add($"batch must be >= 1, got {profile.Batch}");
        foreach (var (pool, ms) in profile.StepMsPerImage)
        {
            if (!double.IsFinite(ms) || ms <= 0) problems.Add($"stepMsPerImage.{pool} must be a positive number, got {ms}");
            if (!pools.Contains(pool)) problems.Add($"stepMsPerImage names pool '{pool}', which Orchestrator:Pools does not configure " +
                $"({string.Join(", ", pools)})");
        }
        if (profile.Points.Count == 0) problems.Add("points is empty");
        else if (!profile.Points.Any(p => p is { Pareto: true })) problems.Add("no point is marked pareto: true (write profiles with `tstitch sweep " +
            "--profile`)");
        for (int i = 0; i < profile.Points.Count; i++)
        {
            var p = profile.Points[i];
            string at = $"points[{i}]";
            if (p is null) { problems.Add($"{at} is null"); continue; }
            if (p.Stages is null || p.Stages.Count == 0) { problems.Add($"{at}.stages is empty"); continue; }
            if (p.Stages.Any(s => s is null)) { problems.Add($"{at}.stages holds a null stage"); continue; }
            try { _ = p.Schedule; }
            catch (InvalidRequestException ex) { problems.Add($"{at}.stages: {ex.Message}"); }
            var uncosted = p.Stages.Where(s => s?.Pool is not null && !profile.StepMsPerImage.ContainsKey(s.Pool)).Select(s => s.Pool);
            foreach (var s in uncosted.Distinct())
                problems.Add($"{at}.stages uses pool '{s}', which stepMsPerImage has no cost for");
            Finite(problems, $"{at}.fd", p.Fd, 0, double.MaxValue);
            Finite(problems, $"{at}.precision", p.Precision, 0, 1);
            Finite(problems, $"{at}.recall", p.Recall, 0, 1);
            Finite(problems, $"{at}.classAccuracy", p.ClassAccuracy, 0, 1);
            if (!double.IsFinite(p.LatencyMsPerImage) || p.LatencyMsPerImage <= 0)
                problems.Add($"{at}.latencyMsPerImage must be a positive number, got {p.LatencyMsPerImage}");
        }
        return problems;
    }

    private static void Finite(List<string> problems, string name, double value, double min, double max)
    {
        if (!double.IsFinite(value) || value < min || value > max)
            problems.Add($"{name} must be a number in [{min}, {(max == double.MaxValue ? "inf)" : max + "]")}, got {value}");
    }
}
