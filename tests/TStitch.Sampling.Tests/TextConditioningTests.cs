using TStitch.Sampling;

namespace TStitch.Sampling.Tests;

/// <summary>Text-conditioned models: embeddings reach every step, guidance uses the negative embeddings,
/// mismatches are refused by field.</summary>
public class TextConditioningTests
{
    private static readonly EmbeddingShape Shape = new(3, 2);

    private static PromptEmbeddings Embeddings(int batch, float cond, float uncond)
    {
        var c = new float[batch * Shape.Size];
        var u = new float[batch * Shape.Size];
        for (int k = 0; k < c.Length; k++) { c[k] = cond + k % Shape.Size; u[k] = uncond; }
        return new PromptEmbeddings(c, u, Shape);
    }

    private static TrajectoryRequest Request(PromptEmbeddings prompts, float guidance = 3f, SwitchSchedule? schedule = null) =>
        new([], 6, SamplerKind.Ddim, schedule ?? SwitchSchedule.SmallThenLarge(0.5, "s", "l"), guidance, Seed: 9) { Prompts = prompts };

    [Fact]
    public async Task Every_step_gets_the_prompt_and_negative_embeddings_and_they_change_the_result()
    {
        var small = new FakeTextDenoiser("s", Shape);
        var large = new FakeTextDenoiser("l", Shape);
        var prompts = Embeddings(2, 1f, -1f);
        var trajectory = new Trajectory(Request(prompts), new Dictionary<string, IDenoiser> { ["s"] = small, ["l"] = large });
        var final = await trajectory.RunAsync(trajectory.Start());

        Assert.Equal(3, small.Inputs.Count);
        Assert.Equal(3, large.Inputs.Count);
        Assert.All(small.Inputs.Concat(large.Inputs), i =>
        {
            Assert.Same(prompts.Conditional, i.Context);
            Assert.Same(prompts.Unconditional, i.UnconditionalContext);
            Assert.Empty(i.ClassLabels);
        });

        // Another negative prompt gives another image: the unconditional half is really used.
        var other = new Trajectory(Request(Embeddings(2, 1f, 5f)),
            new Dictionary<string, IDenoiser> { ["s"] = new FakeTextDenoiser("s", Shape), ["l"] = new FakeTextDenoiser("l", Shape) });
        Assert.NotEqual(final.Latents, (await other.RunAsync(other.Start())).Latents);
    }

    [Fact]
    public void Guidance_puts_the_negative_embeddings_in_the_unconditional_half()
    {
        var prompts = Embeddings(2, 1f, -1f);
        var input = new DenoiseInput(new float[8], [10, 10], [], 3f)
            { Context = prompts.Conditional, UnconditionalContext = prompts.Unconditional };
        var both = Guidance.WithUnconditionalHalf(input, nullClassId: 0);
        Assert.Equal(4, both.Batch);
        Assert.Equal([.. prompts.Conditional, .. prompts.Unconditional], both.Context!);
        Assert.Equal(1f, both.GuidanceScale);
    }

    [Fact]
    public void A_class_request_to_a_text_model_and_prompts_to_a_class_model_are_refused_naming_the_field_to_change()
    {
        var text = new Dictionary<string, DenoiserInfo>
            { ["s"] = new FakeTextDenoiser("s", Shape).Info, ["l"] = new FakeTextDenoiser("l", Shape).Info };
        var classes = new Dictionary<string, DenoiserInfo> { ["s"] = new FakeDenoiser("s").Info, ["l"] = new FakeDenoiser("l").Info };
        var labels = new TrajectoryRequest([1, 2], 6, SamplerKind.Ddim, SwitchSchedule.SmallThenLarge(0.5, "s", "l"), 1f, 1);

        var e = Assert.Throws<InvalidRequestException>(() => Trajectory.CheckModels(labels, text));
        Assert.Equal("class_labels", e.Field);
        Assert.Contains("send prompts", e.Message);
        e = Assert.Throws<InvalidRequestException>(() => Trajectory.CheckModels(Request(Embeddings(1, 0, 0)), classes));
        Assert.Equal("prompts", e.Field);
        Assert.Contains("send class_labels", e.Message);
    }

    [Fact]
    public void Embeddings_of_another_shape_and_stitching_a_text_model_to_a_class_model_are_refused()
    {
        var text = new Dictionary<string, DenoiserInfo>
            { ["s"] = new FakeTextDenoiser("s", Shape).Info, ["l"] = new FakeTextDenoiser("l", Shape).Info };
        var wrong = new PromptEmbeddings(new float[8], new float[8], new EmbeddingShape(4, 2));
        var e = Assert.Throws<InvalidRequestException>(() => Trajectory.CheckModels(Request(wrong), text));
        Assert.Equal("prompts", e.Field);
        Assert.Contains("4x2", e.Message);

        var mixed = new Dictionary<string, DenoiserInfo>
        {
            ["s"] = new FakeTextDenoiser("s", Shape).Info with { Schedule = ScheduleKind.Linear, Spacing = TimestepSpacing.Dit },
            ["l"] = new FakeDenoiser("l").Info,
        };
        e = Assert.Throws<InvalidRequestException>(() => Trajectory.CheckModels(Request(Embeddings(1, 0, 0)), mixed));
        Assert.Equal("stages", e.Field);
        Assert.Contains("conditioned differently", e.Message);
    }

    [Fact]
    public void Denoise_inputs_for_text_models_need_one_embedding_per_sample_and_the_negative_half_when_guided()
    {
        var info = new FakeTextDenoiser("m", Shape).Info;
        var e = Assert.Throws<InvalidRequestException>(() =>
            new DenoiseInput(new float[8], [5, 5], [], 1f) { Context = new float[6] }.Validate(info));
        Assert.Equal("context", e.Field);
        Assert.Contains("2 x 3x2 = 12", e.Message);
        e = Assert.Throws<InvalidRequestException>(() =>
            new DenoiseInput(new float[8], [5, 5], [], 2f) { Context = new float[12] }.Validate(info));
        Assert.Equal("unconditional_context", e.Field);
        e = Assert.Throws<InvalidRequestException>(() =>
            new DenoiseInput(new float[8], [5, 5], [], 1f) { Context = [.. new float[11], float.NaN] }.Validate(info));
        Assert.Equal("context", e.Field);
        // A class model refuses a context instead of ignoring it.
        e = Assert.Throws<InvalidRequestException>(() =>
            new DenoiseInput(new float[8], [5, 5], [1, 1], 1f) { Context = new float[12] }.Validate(new FakeDenoiser("c").Info));
        Assert.Equal("context", e.Field);
        new DenoiseInput(new float[8], [5, 5], [], 2f) { Context = new float[12], UnconditionalContext = new float[12] }.Validate(info);
    }

    [Fact]
    public void A_request_with_prompts_and_class_labels_or_with_neither_is_refused()
    {
        var both = new TrajectoryRequest([1], 6, SamplerKind.Ddim, SwitchSchedule.OneModel("l"), 1f, 1) { Prompts = Embeddings(1, 0, 0) };
        Assert.Equal("class_labels", Assert.Throws<InvalidRequestException>(() => both.Validate()).Field);
        var unequal = new PromptEmbeddings(new float[12], new float[6], Shape);
        Assert.Equal("prompt_embeddings", Assert.Throws<InvalidRequestException>(() => Request(unequal).Validate()).Field);
        Assert.Equal(2, Request(Embeddings(2, 0, 0)).Batch);
    }
}
