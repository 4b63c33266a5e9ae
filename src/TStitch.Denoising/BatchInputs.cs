using TStitch.Hosting.Errors;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>What goes into a batched model run and what is allowed out of it.</summary>
internal static class BatchInputs
{
    /// <summary>
    /// Every call's rows in one input; guided calls add their unconditional rows (null class, or the negative
    /// prompts' embeddings). All calls were validated on entry. The tensors come from <paramref name="buffers"/>
    /// (every value is written here) and go back with <see cref="Release"/> after the run.
    /// </summary>
    public static DenoiseInput Merge(IReadOnlyList<QueuedCall> batch, int rows, DenoiserInfo info, FloatBuffers buffers)
    {
        int sampleSize = info.SampleSize, contextSize = info.Text?.Size ?? 0, row = 0;
        var latents = buffers.Take(rows * sampleSize);
        var timesteps = new int[rows];
        var labels = new int[info.ConditionedOnText ? 0 : rows];
        var context = info.ConditionedOnText ? buffers.Take(rows * contextSize) : null;
        foreach (var p in batch)
        {
            var input = p.Input;
            for (int half = 0; half < p.Rows / input.Batch; half++)
            {
                input.Latents.CopyTo(latents, row * sampleSize);
                input.Timesteps.CopyTo(timesteps, row);
                if (context is not null) (half == 0 ? input.Context! : input.UnconditionalContext!).CopyTo(context, row * contextSize);
                else if (half == 0) input.ClassLabels.CopyTo(labels, row);
                else Array.Fill(labels, info.NullClassId, row, input.Batch);
                row += input.Batch;
            }
        }
        return new DenoiseInput(latents, timesteps, labels, 1f) { Context = context };
    }

    /// <summary>A merged input's tensors back to <paramref name="buffers"/> once the model has run (ORT reads them only then).</summary>
    public static void Release(DenoiseInput merged, FloatBuffers buffers)
    {
        buffers.Return(merged.Latents);
        if (merged.Context is { } context) buffers.Return(context);
    }

    /// <summary>
    /// The model's answer, unless it has non-finite values: then the call fails, naming the model and the
    /// timestep, instead of handing NaNs to a sampler that would carry them to the image.
    /// </summary>
    public static float[] Checked(DenoiserInfo info, float[] output, DenoiseInput input)
    {
        int bad = FiniteValues.FirstNonFinite(output);
        if (bad < 0) return output;
        throw new ServiceFailureException(FailureKind.Internal,
            $"Model '{info.Name}' produced a non-finite value ({output[bad]}) at timestep {input.Timesteps[bad / info.SampleSize]}; " +
            "its inputs were finite, so the model or its export is at fault.");
    }
}
