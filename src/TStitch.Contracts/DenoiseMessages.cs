using TStitch.Sampling;

namespace TStitch.Contracts;

/// <summary>
/// A denoiser call on the wire (<see cref="DenoiseRequest"/>) and in the maths (<see cref="DenoiseInput"/>):
/// the orchestrator's step mode writes it, the replica reads it, both through this one mapping.
/// </summary>
public static class DenoiseMessages
{
    /// <summary>The request wraps the input's arrays (no copy): serialise it before they change.</summary>
    public static DenoiseRequest ToRequest(DenoiseInput input, DenoiserInfo info, string jobId)
    {
        var request = new DenoiseRequest
        {
            Latents = TensorMessages.WrapFloats(input.Latents, input.Batch, info.Channels, info.Height, info.Width),
            GuidanceScale = input.GuidanceScale,
            JobId = jobId,
        };
        request.Timesteps.AddRange(input.Timesteps);
        request.ClassLabels.AddRange(input.ClassLabels);
        if (info.Text is { } text)
        {
            long[] dims = [input.Batch, text.Tokens, text.Width];
            if (input.Context is { } context) request.Context = TensorMessages.WrapFloats(context, dims);
            if (input.UnconditionalContext is { } uncond) request.UnconditionalContext = TensorMessages.WrapFloats(uncond, dims);
        }
        return request;
    }

    /// <summary>
    /// The input a replica runs; shapes are checked against its model here, values by <see cref="DenoiseInput.Validate"/>.
    /// </summary>
    public static DenoiseInput ToInput(DenoiseRequest request, DenoiserInfo info)
    {
        int batch = request.Timesteps.Count;
        var input = new DenoiseInput(request.Latents.ToFloats("latents", batch, info.Channels, info.Height, info.Width),
            request.Timesteps.ToArray(), request.ClassLabels.ToArray(), request.GuidanceScale);
        if (info.Text is not { } text)
        {
            if (request.Context is not null || request.UnconditionalContext is not null)
                throw new InvalidRequestException("context",
                    $"Model '{info.Name}' is conditioned on class labels, not on a text embedding; send class_labels and no context.");
            return input;
        }
        return input with
        {
            Context = request.Context is null ? null : request.Context.ToFloats("context", batch, text.Tokens, text.Width),
            UnconditionalContext = request.UnconditionalContext is null ? null
                : request.UnconditionalContext.ToFloats("unconditional_context", batch, text.Tokens, text.Width),
        };
    }
}
