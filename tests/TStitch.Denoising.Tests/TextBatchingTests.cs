using TStitch.Denoising;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

/// <summary>Text-conditioned calls coalesce like class-label ones: each row of a merged run carries its own
/// (or its negative) embedding.</summary>
public class TextBatchingTests
{
    private static readonly EmbeddingShape Shape = new(2, 3);

    /// <summary>out = x + t + sum(context row): any row mixed up with another's embedding shows.</summary>
    private sealed class SummingTextModel : IModelRunner
    {
        public int Runs;
        public DenoiserInfo Info { get; } = new("text", 1, 1, 2, PredictionKind.Epsilon, 0, 0, ScheduleKind.ScaledLinear, 1000, 1,
            TimestepSpacing.Leading, Shape);

        public float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default)
        {
            Interlocked.Increment(ref Runs);
            Assert.Empty(rows.ClassLabels);
            var output = new float[rows.Latents.Length];
            for (int b = 0; b < rows.Batch; b++)
            {
                float sum = rows.Context!.AsSpan(b * Shape.Size, Shape.Size).ToArray().Sum();
                for (int i = 0; i < 2; i++) output[b * 2 + i] = rows.Latents[b * 2 + i] + rows.Timesteps[b] + sum;
            }
            return output;
        }
    }

    private static DenoiseInput Call(int id, int batch, float guidance)
    {
        var context = Enumerable.Range(0, batch * Shape.Size).Select(k => id * 100f + k).ToArray();
        var negative = Enumerable.Range(0, batch * Shape.Size).Select(k => -id * 10f - k).ToArray();
        var latents = Enumerable.Range(0, batch * 2).Select(k => id + 0.5f * k).ToArray();
        return new DenoiseInput(latents, Enumerable.Repeat(id * 7, batch).ToArray(), [], guidance)
        {
            Context = context,
            UnconditionalContext = guidance != 1f ? negative : null,
        };
    }

    /// <summary>The answer worked out by hand from the model's formula and CFG's mix.</summary>
    private static float[] Expected(DenoiseInput call)
    {
        var result = new float[call.Latents.Length];
        for (int b = 0; b < call.Batch; b++)
        {
            float cond = call.Context!.AsSpan(b * Shape.Size, Shape.Size).ToArray().Sum();
            float uncond = call.UnconditionalContext?.AsSpan(b * Shape.Size, Shape.Size).ToArray().Sum() ?? 0;
            for (int i = 0; i < 2; i++)
            {
                float x = call.Latents[b * 2 + i] + call.Timesteps[b];
                result[b * 2 + i] = Guidance.IsNeeded(call.GuidanceScale)
                    ? (x + uncond) + call.GuidanceScale * ((x + cond) - (x + uncond))
                    : x + cond;
            }
        }
        return result;
    }

    [Fact]
    public async Task Guided_and_plain_text_calls_share_one_run_and_each_gets_its_own_answer()
    {
        var model = new SummingTextModel();
        var calls = new[] { Call(1, 2, 1f), Call(2, 1, 7.5f), Call(3, 3, 1f), Call(4, 1, 2f) };
        await using var batcher = new DynamicBatcher(model, new BatchingOptions(MaxRows: 64, MaxDelay: TimeSpan.FromMilliseconds(300),
            QueueCapacity: 16));
        var answers = await Task.WhenAll(calls.Select(c => batcher.DenoiseAsync(c)));

        Assert.True(model.Runs < calls.Length, $"{model.Runs} runs for {calls.Length} calls: nothing was coalesced");
        for (int i = 0; i < calls.Length; i++)
            Assert.Equal(Expected(calls[i]), answers[i]);
    }
}
