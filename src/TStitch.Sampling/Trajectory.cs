using System.Diagnostics;

namespace TStitch.Sampling;

/// <summary>
/// Drives one stitched trajectory: for each step the <see cref="SwitchSchedule"/> names the model,
/// the model denoises, the sampler advances. It knows nothing of where models run or where state is
/// kept: callers pass denoisers (in process or gRPC) and persist state from <see cref="StepCompleted"/>.
/// </summary>
public sealed class Trajectory
{
    public static readonly ActivitySource ActivitySource = new("TStitch.Sampling");

    public TrajectoryRequest Request { get; }
    public Sampler Sampler { get; }
    public DenoiserInfo Shape { get; }
    private readonly IReadOnlyDictionary<string, IDenoiser> _models;

    public Trajectory(TrajectoryRequest request, IReadOnlyDictionary<string, IDenoiser> models)
    {
        ArgumentNullException.ThrowIfNull(models);
        Shape = CheckModels(request, models.ToDictionary(m => m.Key, m => m.Value.Info));
        Request = request;
        _models = models;
        Sampler = Sampler.Create(request.Sampler, new SamplingPlan(NoiseSchedule.Create(Shape.Schedule, Shape.TrainingSteps),
            request.Steps, Shape.Spacing), request.Eta);
    }

    /// <summary>
    /// Checks that <paramref name="request"/> can run on models described by <paramref name="models"/>: every
    /// model it names exists, they share one latent space, conditioning, noise schedule and timestep spacing,
    /// and the request's conditioning (labels of their classes, or prompt embeddings of their shape) fits them.
    /// Returns the shared shape. The constructor runs it; callers that only hold the models' descriptions (the
    /// orchestrator, before a job exists) call it directly.
    /// </summary>
    public static DenoiserInfo CheckModels(TrajectoryRequest request, IReadOnlyDictionary<string, DenoiserInfo> models)
    {
        ArgumentNullException.ThrowIfNull(request);
        request.Validate();
        foreach (var id in request.Schedule.ModelIds)
            if (!models.ContainsKey(id))
                throw new InvalidRequestException("stages",
                    $"The switch schedule names model '{id}', which is not available (known: {string.Join(", ", models.Keys)}).");
        var used = request.Schedule.ModelIds.Select(id => models[id]).ToList();
        var shape = used[0];
        foreach (var info in used.Skip(1))
        {
            if ((info.Channels, info.Height, info.Width) != (shape.Channels, shape.Height, shape.Width))
                throw new InvalidRequestException("stages",
                    $"Models '{shape.Name}' ({shape.Channels}x{shape.Height}x{shape.Width}) and '{info.Name}' " +
                        $"({info.Channels}x{info.Height}x{info.Width}) have different latent shapes; stitched models must share one " +
                            $"latent space.");
            if (info.Text != shape.Text)
                throw new InvalidRequestException("stages",
                    $"Models '{shape.Name}' ({Conditioning(shape)}) and '{info.Name}' ({Conditioning(info)}) are conditioned " +
                        "differently; stitched models must share their conditioning.");
            if (!shape.ConditionedOnText && (info.NumClasses, info.NullClassId) != (shape.NumClasses, shape.NullClassId))
                throw new InvalidRequestException("stages",
                    $"Models '{shape.Name}' and '{info.Name}' have different classes ({shape.NumClasses} vs {info.NumClasses}, null " +
                        $"class {shape.NullClassId} vs {info.NullClassId}).");
            if (info.Schedule != shape.Schedule || info.TrainingSteps != shape.TrainingSteps || info.Spacing != shape.Spacing)
                throw new InvalidRequestException("stages",
                    $"Models '{shape.Name}' and '{info.Name}' were trained with different noise schedules or timestep spacings.");
        }
        CheckConditioning(request, shape);
        return shape;
    }

    private static string Conditioning(DenoiserInfo info) => info.Text is { } t ? $"text embeddings {t}" : "class labels";

    /// <summary>A text request needs text models and class labels need class models; the field named is the one to change.</summary>
    private static void CheckConditioning(TrajectoryRequest request, DenoiserInfo shape)
    {
        if (shape.Text is { } text)
        {
            if (request.Prompts is null)
                throw new InvalidRequestException("class_labels",
                    $"Model '{shape.Name}' is conditioned on text: send prompts instead of class_labels.");
            if (request.Prompts.Shape != text)
                throw new InvalidRequestException("prompts",
                    $"The prompt embeddings are {request.Prompts.Shape} per prompt; model '{shape.Name}' takes {text} (a different text " +
                        "encoder?).");
            return;
        }
        if (request.Prompts is not null)
            throw new InvalidRequestException("prompts",
                $"Model '{shape.Name}' is conditioned on class labels, not text: send class_labels instead of prompts.");
        TrajectoryLimits.ClassLabels(request.ClassLabels, shape.NumClasses);
    }

    public int Steps => Request.Steps;
    public int Batch => Request.Batch;

    public string ModelAt(int step) => Request.Schedule.ModelFor(step, Steps);

    public SamplerState Start() => Sampler.Start(Batch, Shape.SampleSize, Request.Seed);

    /// <summary>
    /// Checks a state that comes from outside (a checkpoint, a stage-run request): its step is within the
    /// plan, its latents fit the batch and, for a multistep solver past step 0, its history is there (without
    /// it the step would silently fall back to first order and no longer match the uninterrupted run).
    /// </summary>
    public SamplerState CheckState(SamplerState state, string field = "latents")
    {
        if (state.IsUndrawnStart) return state; // this trajectory's own x_T: right by construction
        if (state.Step < 0 || state.Step > Steps)
            throw new InvalidRequestException("state.step",
                $"state.step (where the run starts) is {state.Step}, outside the trajectory's steps [0, {Steps}].");
        int expected = Batch * Shape.SampleSize;
        if (state.Latents.Length != expected)
            throw new InvalidRequestException(field,
                $"{field} has {state.Latents.Length} values; {Batch} x {Shape.Channels} x {Shape.Height} x {Shape.Width} = {expected} " +
                    $"expected.");
        if (state.PreviousX0 is { } prev && prev.Length != expected)
            throw new InvalidRequestException("previous_x0", $"previous_x0 has {prev.Length} values; {expected} expected.");
        if (Request.Sampler == SamplerKind.DpmSolverPP2M && state.Step > 0 && state.PreviousX0 is null)
            throw new InvalidRequestException("previous_x0", $"dpm-solver++ needs previous_x0 to continue at step {state.Step}.");
        FiniteValues.Require(state.Latents, field, "latents");
        return state;
    }

    /// <summary>Runs one step in place: the model the schedule names for it, then the sampler update.</summary>
    public async Task<StepCompleted> StepAsync(SamplerState state, CancellationToken cancellationToken = default)
    {
        int step = state.Step;
        string modelId = ModelAt(step);
        int t = Sampler.Plan.Timesteps[step];
        using var activity = ActivitySource.StartActivity("trajectory.step");
        JobTag.Inherit(activity);
        activity?.SetTag("tstitch.step", step);
        activity?.SetTag("tstitch.model", modelId);
        activity?.SetTag("tstitch.timestep", t);
        var model = _models[modelId];
        // No copy of the latents: denoisers only read their input until the call completes (IDenoiser).
        var input = new DenoiseInput(state.Latents, Enumerable.Repeat(t, Batch).ToArray(),
            Request.ClassLabels.ToArray(), Request.GuidanceScale)
        {
            Context = Request.Prompts?.Conditional,
            UnconditionalContext = Request.Prompts?.Unconditional,
        };
        var started = Stopwatch.GetTimestamp();
        var output = await model.DenoiseAsync(input, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        Sampler.Step(state, output, model.Info.Prediction, Shape.SampleSize, Request.Seed);
        model.Recycle(output);
        return new StepCompleted(step, Steps, modelId, t, state, elapsed);
    }

    /// <summary>Runs from <paramref name="state"/> to the end, reporting each step (e.g. to checkpoint it).</summary>
    public Task<SamplerState> RunAsync(SamplerState state, Func<StepCompleted, CancellationToken, ValueTask>? onStep = null,
        CancellationToken cancellationToken = default) => RunAsync(state, Steps, onStep, cancellationToken);

    /// <summary>Runs steps [state.Step, <paramref name="to"/>): one stage of the trajectory.</summary>
    public async Task<SamplerState> RunAsync(SamplerState state, int to, Func<StepCompleted, CancellationToken, ValueTask>? onStep = null,
        CancellationToken cancellationToken = default)
    {
        if (to < state.Step || to > Steps)
            throw new InvalidRequestException("to_step", $"to_step {to} must be in [{state.Step}, {Steps}].");
        while (state.Step < to)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var done = await StepAsync(state, cancellationToken).ConfigureAwait(false);
            if (onStep is not null) await onStep(done, cancellationToken).ConfigureAwait(false);
        }
        return state;
    }
}
