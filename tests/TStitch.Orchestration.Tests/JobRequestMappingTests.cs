using TStitch.Contracts;
using TStitch.Orchestration;
using TStitch.Sampling;

namespace TStitch.Orchestration.Tests;

/// <summary>GenerateRequest -> JobSpec: once, with defaults filled in, each rule naming its field.</summary>
public class JobRequestMappingTests
{
    private static readonly OrchestratorOptions Options = new()
    {
        Pools = { ["tiny"] = "http://tiny:1", ["huge"] = "http://huge:2", ["mid"] = "http://mid:3" },
        SmallPool = "tiny", LargePool = "huge", DefaultSmallFraction = 0.3, MaxImagesPerRequest = 8,
    };

    private static GenerateRequest Request(Action<GenerateRequest>? change = null)
    {
        var r = new GenerateRequest { Steps = 20, Seed = 5 };
        r.ClassLabels.AddRange([1, 2]);
        change?.Invoke(r);
        return r;
    }

    [Fact]
    public void Defaults_are_filled_in_once_and_small_fraction_means_the_configured_pools()
    {
        var (id, spec) = JobRequestMapping.ToJob(Request(), Options);
        Assert.Equal(32, id.Length); // a new id when the caller gave none
        Assert.Equal(SamplerKind.Ddim, spec.Sampler);
        Assert.Equal(1f, spec.GuidanceScale);
        Assert.Equal(ResultFormat.Png, spec.Output);
        Assert.Equal([new SwitchStage("tiny", 0.3), new SwitchStage("huge", 0.7)], spec.Stages);

        var (_, explicitFraction) = JobRequestMapping.ToJob(Request(r => r.SmallFraction = 0.5), Options);
        Assert.Equal("tiny:0.5 -> huge:0.5", explicitFraction.Schedule.ToString());
    }

    [Fact]
    public void Stages_samplers_guidance_and_outputs_map_as_given()
    {
        var (id, spec) = JobRequestMapping.ToJob(Request(r =>
        {
            r.JobId = "my-job_01";
            r.Sampler = "DPM-Solver++";
            r.GuidanceScale = 0f;
            r.Eta = 0.5;
            r.Output = OutputKind.PngAndRaw;
            r.Stages = new StageList { Stages = { new Stage { Pool = "tiny", Fraction = 0.2 },
                new Stage { Pool = "mid", Fraction = 0.3 }, new Stage { Pool = "huge", Fraction = 0.5 } } };
        }), Options);
        Assert.Equal("my-job_01", id);
        Assert.Equal(SamplerKind.DpmSolverPP2M, spec.Sampler);
        Assert.Equal(0f, spec.GuidanceScale);
        Assert.Equal(0.5, spec.Eta);
        Assert.Equal(ResultFormat.PngAndRaw, spec.Output);
        Assert.Equal("tiny:0.2 -> mid:0.3 -> huge:0.5", spec.Schedule.ToString());
    }

    public static TheoryData<string, Action<GenerateRequest>, string, string> BadRequests => new()
    {
        { "no images", r => r.ClassLabels.Clear(), "class_labels", "empty" },
        { "too many images", r => r.ClassLabels.AddRange(Enumerable.Range(0, 7)), "class_labels", "maximum batch is 8" },
        { "steps 0", r => r.Steps = 0, "steps", "between 1 and 1000" },
        { "steps 1001", r => r.Steps = 1001, "steps", "1001" },
        { "small_fraction 2", r => r.SmallFraction = 2, "small_fraction", "[0, 1]" },
        { "unknown pool", r => r.Stages = new StageList { Stages = { new Stage { Pool = "gpu", Fraction = 1 } } }, "stages", "'gpu'" },
        { "fractions not summing to 1", r => r.Stages = new StageList { Stages = { new Stage { Pool = "tiny", Fraction = 0.5 } } },
            "stages", "sum to 1" },
        { "negative guidance", r => r.GuidanceScale = -1, "guidance_scale", "-1" },
        { "huge guidance", r => r.GuidanceScale = 1e30f, "guidance_scale", "[0, 100]" },
        { "NaN guidance", r => r.GuidanceScale = float.NaN, "guidance_scale", "NaN" },
        { "eta 2", r => r.Eta = 2, "eta", "[0, 1]" },
        { "unknown sampler", r => r.Sampler = "euler", "sampler", "'euler'" },
        { "unknown output", r => r.Output = (OutputKind)99, "output", "99" },
        { "job id with a space", r => r.JobId = "my job", "job_id", "position 2" },
        { "job id with a control character", r => r.JobId = "job\u001b[31m", "job_id", "U+001B" },
        { "job id too long", r => r.JobId = new string('x', 129), "job_id", "129 characters" },
    };

    [Theory]
    [MemberData(nameof(BadRequests))]
    public void Bad_requests_name_the_field(string name, Action<GenerateRequest> spoil, string field, string detail)
    {
        var ex = Assert.Throws<InvalidRequestException>(() => JobRequestMapping.ToJob(Request(spoil), Options));
        Assert.True(ex.Field == field, $"{name}: field {ex.Field}, message {ex.Message}");
        Assert.Contains(detail, ex.Message);
    }

    [Fact]
    public void A_long_job_id_is_refused_without_being_echoed()
    {
        var id = new string('z', 100_000);
        var ex = Assert.Throws<InvalidRequestException>(() => JobIds.Check(id));
        Assert.DoesNotContain("zzzz", ex.Message);
        Assert.True(ex.Message.Length < 200);
    }

    [Fact]
    public void Specs_survive_their_stored_form_and_compare_by_value()
    {
        var (_, spec) = JobRequestMapping.ToJob(Request(r => { r.Sampler = "ddpm"; r.GuidanceScale = 2.5f; r.SmallFraction = 0.25; }),
            Options);
        var back = JobSpec.FromJson(spec.ToJson());
        Assert.True(back.SameAs(spec));
        Assert.Equal(spec.Schedule.ToString(), back.Schedule.ToString());
        var (_, other) = JobRequestMapping.ToJob(Request(r => { r.Sampler = "ddpm"; r.GuidanceScale = 2.5f; r.SmallFraction = 0.26; }),
            Options);
        Assert.False(other.SameAs(spec));
    }
}
