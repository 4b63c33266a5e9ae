using TStitch.Hosting.Errors;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising.Tests;

/// <summary>What the batcher answers when the model or the replica cannot: failure kinds the error table maps.</summary>
public class BatcherFailureTests
{
    private static DenoiseInput Call(int label, float guidance = 1f) => new(new float[4], [500], [label], guidance);

    [Theory]
    [InlineData(1f)]
    [InlineData(3f)]
    public async Task Non_finite_model_output_fails_the_call_naming_the_model_and_timestep(float guidance)
    {
        await using var batcher = new DynamicBatcher(new ConstantModel(float.NaN), new BatchingOptions(64, TimeSpan.Zero, 8));
        var ex = await Assert.ThrowsAsync<ServiceFailureException>(() => batcher.DenoiseAsync(Call(1, guidance)));
        Assert.Equal(FailureKind.Internal, ex.Kind);
        Assert.Contains("'constant'", ex.Message);
        Assert.Contains("timestep 500", ex.Message);
    }

    [Fact]
    public async Task Finite_output_passes_through_unchanged()
    {
        await using var batcher = new DynamicBatcher(new ConstantModel(0.25f), new BatchingOptions(64, TimeSpan.Zero, 8));
        Assert.Equal(new[] { 0.25f, 0.25f, 0.25f, 0.25f }, await batcher.DenoiseAsync(Call(1)));
        Assert.Equal((1L, 1L, 1L), batcher.Counters);
    }

    [Fact]
    public async Task A_stopped_batcher_answers_shutting_down()
    {
        var batcher = new DynamicBatcher(new ConstantModel(0f), new BatchingOptions(64, TimeSpan.Zero, 8));
        await batcher.DisposeAsync();
        var ex = Assert.Throws<ServiceFailureException>(() => { _ = batcher.DenoiseAsync(Call(1)); });
        Assert.Equal(FailureKind.ShuttingDown, ex.Kind);
    }

    [Fact]
    public async Task Bad_input_is_the_callers_error_before_anything_queues()
    {
        await using var batcher = new DynamicBatcher(new ConstantModel(0f), new BatchingOptions(64, TimeSpan.Zero, 8));
        var ex = Assert.Throws<InvalidRequestException>(() =>
            { _ = batcher.DenoiseAsync(new DenoiseInput(new float[4], [500], [12], 1f)); });
        Assert.Equal("class_labels", ex.Field);
        Assert.Equal((0L, 0L, 0L), batcher.Counters);
    }

    /// <summary>A 1x2x2 model answering the same value everywhere.</summary>
    private sealed class ConstantModel(float value) : IModelRunner
    {
        public DenoiserInfo Info { get; } = new("constant", 1, 2, 2, PredictionKind.Epsilon, 10, 10, ScheduleKind.Linear, 1000, 1);

        public float[] Run(DenoiseInput rows, CancellationToken cancellationToken = default) =>
            Enumerable.Repeat(value, rows.Latents.Length).ToArray();
    }
}
