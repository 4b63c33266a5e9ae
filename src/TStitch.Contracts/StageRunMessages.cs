using TStitch.Sampling;

namespace TStitch.Contracts;

/// <summary>
/// Stage runs on the wire and in the maths: the trajectory's parameters and the sampler state that
/// travel between the orchestrator and a pool replica. Both sides use this one mapping.
/// </summary>
public static class StageRunMessages
{
    public static TrajectoryParameters ToParameters(TrajectoryRequest request, DenoiserInfo family)
    {
        var p = new TrajectoryParameters
        {
            Steps = request.Steps, Sampler = Sampler.Name(request.Sampler), GuidanceScale = request.GuidanceScale,
            Seed = request.Seed, Eta = request.Eta, NoiseSchedule = ModelInfoMessages.Name(family.Schedule),
            TrainingSteps = family.TrainingSteps,
            TimestepSpacing = ModelInfoMessages.Name(family.Spacing),
        };
        p.ClassLabels.AddRange(request.ClassLabels);
        if (request.Prompts is { } prompts)
        {
            long[] dims = [prompts.Batch, prompts.Shape.Tokens, prompts.Shape.Width];
            // Wrapped, not copied: the embeddings do not change while a job runs.
            p.PromptEmbeddings = TensorMessages.WrapFloats(prompts.Conditional, dims);
            p.NegativeEmbeddings = TensorMessages.WrapFloats(prompts.Unconditional, dims);
        }
        return p;
    }

    /// <summary>The trajectory a replica runs for a stage: every step on its own <paramref name="model"/>.</summary>
    public static TrajectoryRequest ToRequest(TrajectoryParameters? p, DenoiserInfo model)
    {
        if (p is null) throw new InvalidRequestException("trajectory", "trajectory is missing.");
        var schedule = ModelInfoMessages.ParseSchedule(p.NoiseSchedule, "trajectory.noise_schedule");
        if (schedule != model.Schedule || p.TrainingSteps != model.TrainingSteps)
            throw new InvalidRequestException("trajectory.noise_schedule",
                $"trajectory.noise_schedule is {p.NoiseSchedule} over {p.TrainingSteps} training steps; model '{model.Name}' was trained " +
                    $"with {ModelInfoMessages.Name(model.Schedule)} over {model.TrainingSteps}.");
        var spacing = ModelInfoMessages.ParseSpacing(p.TimestepSpacing, "trajectory.timestep_spacing");
        if (spacing != model.Spacing)
            throw new InvalidRequestException("trajectory.timestep_spacing",
                $"trajectory.timestep_spacing is {ModelInfoMessages.Name(spacing)}; model '{model.Name}' samples with " +
                    $"{ModelInfoMessages.Name(model.Spacing)}.");
        var sampler = string.IsNullOrWhiteSpace(p.Sampler)
            ? throw new InvalidRequestException("trajectory.sampler", "trajectory.sampler is empty; use ddim, ddpm or dpm-solver++.")
            : Sampler.Parse(p.Sampler);
        return new TrajectoryRequest(p.ClassLabels.ToArray(), p.Steps, sampler, SwitchSchedule.OneModel(model.Name), p.GuidanceScale,
            p.Seed, p.Eta) { Prompts = ToPromptEmbeddings(p, model) }
            .Validate();
    }

    /// <summary>The prompt embeddings a stage run carries, shaped as the replica's model takes them; null when it sends none.</summary>
    private static PromptEmbeddings? ToPromptEmbeddings(TrajectoryParameters p, DenoiserInfo model)
    {
        if (p.PromptEmbeddings is null && p.NegativeEmbeddings is null)
            return model.Text is null ? null : throw new InvalidRequestException("trajectory.prompt_embeddings",
                $"Model '{model.Name}' is conditioned on text: send prompt_embeddings and negative_embeddings instead of class_labels.");
        if (model.Text is not { } shape)
            throw new InvalidRequestException("trajectory.prompt_embeddings",
                $"Model '{model.Name}' is conditioned on class labels; send class_labels, not prompt_embeddings.");
        long batch = p.PromptEmbeddings is { Shape.Count: 3 } t ? t.Shape[0] : -1;
        if (batch < 1)
            throw new InvalidRequestException("trajectory.prompt_embeddings",
                $"trajectory.prompt_embeddings must be [batch, {shape.Tokens}, {shape.Width}] for model '{model.Name}'.");
        return new PromptEmbeddings(
            p.PromptEmbeddings.ToFloats("trajectory.prompt_embeddings", batch, shape.Tokens, shape.Width),
            p.NegativeEmbeddings.ToFloats("trajectory.negative_embeddings", batch, shape.Tokens, shape.Width), shape);
    }

    /// <summary>
    /// The state as a message. With <paramref name="copy"/> false the message wraps the state's arrays,
    /// so it must be serialised before the sampler takes its next step.
    /// </summary>
    public static SamplerCheckpoint ToCheckpoint(SamplerState state, DenoiserInfo shape, bool copy)
    {
        long[] dims = Shape(state.Latents.Length, shape);
        Tensor Tensor(float[] values) => copy ? TensorMessages.FromFloats(values, dims) : TensorMessages.WrapFloats(values, dims);
        var c = new SamplerCheckpoint { Step = state.Step, Latents = Tensor(state.Latents) };
        if (state.PreviousX0 is { } prev) c.PreviousX0 = Tensor(prev);
        return c;
    }

    /// <summary>
    /// Where a stage run starts. At step 0 the latents are left out: x_T is keyed noise of the seed, which
    /// the replica draws itself (<see cref="FromStartCheckpoint"/>), so a job's first hop carries no tensor.
    /// </summary>
    public static SamplerCheckpoint ToStartCheckpoint(SamplerState state, DenoiserInfo shape) =>
        state.Step == 0 ? new SamplerCheckpoint { Step = 0 } : ToCheckpoint(state, shape, copy: false);

    /// <summary>
    /// The state a stage run starts from: the request's, or x_T drawn from the seed when it starts at step 0 without latents.
    /// </summary>
    public static SamplerState FromStartCheckpoint(SamplerCheckpoint? checkpoint, Trajectory trajectory) =>
        checkpoint is { Step: 0, Latents: null, PreviousX0: null } ? trajectory.Start() : checkpoint.ToState(trajectory.Batch,
            trajectory.Shape);

    public static SamplerState ToState(this SamplerCheckpoint? checkpoint, int batch, DenoiserInfo shape, string field = "state")
    {
        if (checkpoint is null) throw new InvalidRequestException(field, $"{field} is missing.");
        long[] dims = [batch, shape.Channels, shape.Height, shape.Width];
        return new SamplerState(checkpoint.Step, checkpoint.Latents.ToFloats($"{field}.latents", dims),
            checkpoint.PreviousX0 is null ? null : checkpoint.PreviousX0.ToFloats($"{field}.previous_x0", dims));
    }

    private static long[] Shape(int length, DenoiserInfo shape) => [length / shape.SampleSize, shape.Channels, shape.Height, shape.Width];
}
