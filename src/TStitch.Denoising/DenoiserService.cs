using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Options;
using TStitch.Models;
using TStitch.Contracts;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>The Denoise RPC: decode, validate against the manifest, run the model, encode.</summary>
public sealed class DenoiserService(DynamicBatcher batcher, OnnxDenoiser model, IOptions<DenoiserOptions> options) : Contracts.Denoiser.DenoiserBase
{
    public static readonly ActivitySource ActivitySource = new("TStitch.Denoising");

    public override async Task<DenoiseReply> Denoise(DenoiseRequest request, ServerCallContext context)
    {
        var info = batcher.Info;
        int batch = request.Timesteps.Count;
        if (batch > options.Value.MaxBatch)
            throw new ArgumentException($"Batch of {batch} exceeds this pool's MaxBatch of {options.Value.MaxBatch}; split the request.", "timesteps");
        long[] expectedShape = [batch, info.Channels, info.Height, info.Width];
        if (request.Latents is null || !request.Latents.Shape.SequenceEqual(expectedShape))
            throw new ArgumentException($"latents has shape [{string.Join(", ", request.Latents?.Shape ?? [])}]; model '{info.Name}' expects [{string.Join(", ", expectedShape)}].", "latents");
        var input = new DenoiseInput(request.Latents.ToFloats("latents"), request.Timesteps.ToArray(), request.ClassLabels.ToArray(), request.GuidanceScale);

        using var activity = ActivitySource.StartActivity("denoise");
        activity?.SetTag("tstitch.model", info.Name);
        activity?.SetTag("tstitch.batch", batch);
        activity?.SetTag("tstitch.job", request.JobId);
        long start = Stopwatch.GetTimestamp();
        float[] output;
        try
        {
            output = await batcher.DenoiseAsync(input, context.CancellationToken);
        }
        catch (QueueFullException ex)
        {
            throw new RpcException(new Status(StatusCode.ResourceExhausted, ex.Message));
        }
        catch (OperationCanceledException) when (!context.CancellationToken.IsCancellationRequested)
        {
            // Not the caller's doing: this replica is stopping. Unavailable sends the call elsewhere.
            throw new RpcException(new Status(StatusCode.Unavailable, $"The '{info.Name}' replica is shutting down."));
        }
        return new DenoiseReply
        {
            Output = TensorMessages.WrapFloats(output, expectedShape),
            Model = info.Name,
            RunMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds, // queue wait + run
        };
    }

    public override Task<ModelInfo> GetModelInfo(GetModelInfoRequest request, ServerCallContext context)
    {
        var m = model.Manifest;
        var reply = new ModelInfo
        {
            Name = m.Name, Prediction = m.Prediction.ToString().ToLowerInvariant(), LearnedSigma = m.LearnedSigma,
            NumClasses = m.NumClasses, NullClassId = m.NullClassId, Schedule = m.Schedule.Kind.ToString().ToLowerInvariant(),
            TrainingSteps = m.Schedule.TrainingSteps, RelativeCost = m.RelativeCost, CostMsPerSample = m.CostMsPerSample,
            MaxBatch = options.Value.MaxBatch,
        };
        reply.LatentShape.AddRange(m.LatentShape);
        return Task.FromResult(reply);
    }
}
