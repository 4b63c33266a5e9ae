using System.Diagnostics;

namespace TStitch.Sampling;

/// <summary>What a user asks for: one image per class label, sampled with a stitched schedule.</summary>
public sealed record TrajectoryRequest(
    IReadOnlyList<int> ClassLabels,
    int Steps,
    SamplerKind Sampler,
    SwitchSchedule Schedule,
    float GuidanceScale,
    ulong Seed,
    double Eta = 0);

/// <summary>Reported after every step: where the trajectory is and which model ran the step.</summary>
public sealed record StepCompleted(int Step, int Steps, string ModelId, int Timestep, SamplerState State, TimeSpan DenoiseTime);

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
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(models);
        Validate(request);
        foreach (var id in request.Schedule.ModelIds)
            if (!models.ContainsKey(id))
                throw new ArgumentException($"The switch schedule names model '{id}', which is not available (known: {string.Join(", ", models.Keys)}).", "schedule");
        var used = request.Schedule.ModelIds.Select(id => models[id].Info).ToList();
        Shape = used[0];
        foreach (var info in used.Skip(1))
        {
            if ((info.Channels, info.Height, info.Width) != (Shape.Channels, Shape.Height, Shape.Width))
                throw new ArgumentException($"Models '{Shape.Name}' ({Shape.Channels}x{Shape.Height}x{Shape.Width}) and '{info.Name}' ({info.Channels}x{info.Height}x{info.Width}) have different latent shapes; stitched models must share one latent space.", "schedule");
            if ((info.NumClasses, info.NullClassId) != (Shape.NumClasses, Shape.NullClassId))
                throw new ArgumentException($"Models '{Shape.Name}' and '{info.Name}' have different classes ({Shape.NumClasses} vs {info.NumClasses}, null class {Shape.NullClassId} vs {info.NullClassId}).", "schedule");
            if (info.Schedule != Shape.Schedule || info.TrainingSteps != Shape.TrainingSteps)
                throw new ArgumentException($"Models '{Shape.Name}' and '{info.Name}' were trained with different noise schedules.", "schedule");
        }
        for (int b = 0; b < request.ClassLabels.Count; b++)
        {
            int y = request.ClassLabels[b];
            if (y < 0 || y >= Shape.NumClasses)
                throw new ArgumentOutOfRangeException("class_labels", $"class_labels[{b}] = {y} is out of range: the models have classes 0..{Shape.NumClasses - 1}.");
        }
        Request = request;
        _models = models;
        Sampler = Sampler.Create(request.Sampler, new SamplingPlan(NoiseSchedule.Create(Shape.Schedule, Shape.TrainingSteps), request.Steps), request.Eta);
    }

    public static void Validate(TrajectoryRequest request)
    {
        if (request.ClassLabels is null || request.ClassLabels.Count == 0)
            throw new ArgumentException("class_labels is empty: ask for at least one image.", "class_labels");
        if (request.Steps < 1 || request.Steps > SamplingPlan.MaxSteps)
            throw new ArgumentOutOfRangeException("steps", $"steps must be between 1 and {SamplingPlan.MaxSteps}, got {request.Steps}.");
        if (!float.IsFinite(request.GuidanceScale) || request.GuidanceScale < 0)
            throw new ArgumentOutOfRangeException("guidance_scale", $"guidance_scale must be a finite number >= 0, got {request.GuidanceScale}.");
        ArgumentNullException.ThrowIfNull(request.Schedule, "schedule");
    }

    public int Steps => Request.Steps;
    public int Batch => Request.ClassLabels.Count;

    public string ModelAt(int step) => Request.Schedule.ModelFor(step, Steps);

    public SamplerState Start() => Sampler.Start(Batch, Shape.SampleSize, Request.Seed);

    /// <summary>Runs one step in place: the model the schedule names for it, then the sampler update.</summary>
    public async Task<StepCompleted> StepAsync(SamplerState state, CancellationToken cancellationToken = default)
    {
        int step = state.Step;
        string modelId = ModelAt(step);
        int t = Sampler.Plan.Timesteps[step];
        using var activity = ActivitySource.StartActivity("trajectory.step");
        activity?.SetTag("tstitch.step", step);
        activity?.SetTag("tstitch.model", modelId);
        activity?.SetTag("tstitch.timestep", t);
        var model = _models[modelId];
        // No copy of the latents: denoisers only read their input until the call completes (IDenoiser).
        var input = new DenoiseInput(state.Latents, Enumerable.Repeat(t, Batch).ToArray(),
            Request.ClassLabels.ToArray(), Request.GuidanceScale);
        var started = Stopwatch.GetTimestamp();
        var output = await model.DenoiseAsync(input, cancellationToken).ConfigureAwait(false);
        var elapsed = Stopwatch.GetElapsedTime(started);
        Sampler.Step(state, output, model.Info.Prediction, Shape.SampleSize, Request.Seed);
        return new StepCompleted(step, Steps, modelId, t, state, elapsed);
    }

    /// <summary>Runs from <paramref name="state"/> to the end, reporting each step (e.g. to checkpoint it).</summary>
    public async Task<SamplerState> RunAsync(SamplerState state, Func<StepCompleted, CancellationToken, ValueTask>? onStep = null,
        CancellationToken cancellationToken = default)
    {
        while (state.Step < Steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            var done = await StepAsync(state, cancellationToken).ConfigureAwait(false);
            if (onStep is not null) await onStep(done, cancellationToken).ConfigureAwait(false);
        }
        return state;
    }
}
