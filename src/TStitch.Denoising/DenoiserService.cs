using System.Diagnostics;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using TStitch.Contracts;
using TStitch.Hosting;
using TStitch.Hosting.Errors;
using TStitch.Models;
using TStitch.Sampling;

namespace TStitch.Denoising;

/// <summary>The Denoiser RPCs: decode and check against the manifest, run through the batcher, encode.</summary>
public sealed class DenoiserService(DynamicBatcher batcher, OnnxDenoiser model, StageRunner stages, ReplicaDecoder decoder,
    IOptions<DenoiserOptions> options,
    ILogger<DenoiserService> logger)
    : Contracts.Denoiser.DenoiserBase
{
    /// <summary>The request's job id on every log line written while serving it (as JobRunner does in the orchestrator).</summary>
    private IDisposable? JobScope(string jobId) => JobLogScope.Begin(logger, jobId);

    public override async Task<DenoiseReply> Denoise(DenoiseRequest request, ServerCallContext context)
    {
        using var scope = JobScope(request.JobId);
        var info = batcher.Info;
        int batch = request.Timesteps.Count;
        if (batch > options.Value.MaxSamplesPerCall)
            throw new InvalidRequestException("timesteps",
                $"Batch of {batch} exceeds this pool's MaxSamplesPerCall of {options.Value.MaxSamplesPerCall}; split the request.");
        long[] shape = [batch, info.Channels, info.Height, info.Width];
        var input = DenoiseMessages.ToInput(request, info);

        using var activity = DenoisingTelemetry.ActivitySource.StartActivity("denoise");
        activity?.SetTag("tstitch.model", info.Name);
        activity?.SetTag("tstitch.batch", batch);
        activity?.SetTag("tstitch.job", request.JobId);
        long start = Stopwatch.GetTimestamp();
        var output = await batcher.DenoiseAsync(input, context.CancellationToken);
        var elapsed = Stopwatch.GetElapsedTime(start); // queue wait + run
        DenoisingTelemetry.Denoised(info.Name, elapsed);
        return new DenoiseReply { Output = TensorMessages.WrapFloats(output, shape), Model = info.Name, RunMs = elapsed.TotalMilliseconds };
    }

    public override async Task RunStage(StageRunRequest request, IServerStreamWriter<StageRunEvent> responseStream,
        ServerCallContext context)
    {
        using var scope = JobScope(request.JobId);
        await stages.RunAsync(request, responseStream, context.CancellationToken);
    }

    public override async Task<DecodeReply> Decode(DecodeRequest request, ServerCallContext context)
    {
        var d = decoder.Decoder ?? throw new ServiceFailureException(FailureKind.InvalidRequest,
            $"Model '{model.Info.Name}' has no decoder: its manifest names none (\"decoder\": \"vae.json\").");
        var info = batcher.Info;
        if (request.Latents is null || request.Latents.Shape.Count != 4)
            throw new InvalidRequestException("latents", "latents must be a [B, C, H, W] tensor.");
        long batch = request.Latents.Shape[0];
        if (batch < 1 || batch > options.Value.MaxSamplesPerCall)
            throw new InvalidRequestException("latents",
                $"Batch of {batch} is outside 1..{options.Value.MaxSamplesPerCall} (Denoiser:MaxSamplesPerCall).");
        var latents = request.Latents.ToFloats("latents", batch, info.Channels, info.Height, info.Width);
        using var activity = DenoisingTelemetry.ActivitySource.StartActivity("decode");
        activity?.SetTag("tstitch.decoder", d.Manifest.Name);
        activity?.SetTag("tstitch.batch", batch);
        activity?.SetTag("tstitch.job", request.JobId);
        long start = Stopwatch.GetTimestamp();
        var images = await decoder.DecodeAsync(latents, (int)batch, context.CancellationToken);
        var shape = d.Manifest.ImageShape;
        return new DecodeReply
        {
            Images = TensorMessages.WrapFloats(images, batch, shape[0], shape[1], shape[2]),
            Decoder = d.Manifest.Name,
            RunMs = Stopwatch.GetElapsedTime(start).TotalMilliseconds,
        };
    }

    public override Task<ModelInfo> GetModelInfo(GetModelInfoRequest request, ServerCallContext context)
    {
        var m = ModelInfoMessages.ToMessage(model.Info, model.Manifest.LearnedSigma, model.Manifest.CostMsPerSample,
            options.Value.MaxSamplesPerCall);
        m.HasDecoder = decoder.Decoder is not null;
        if (decoder.Decoder is { } d) m.ImageShape.AddRange(d.Manifest.ImageShape);
        return Task.FromResult(m);
    }
}
