using Grpc.Core;
using TStitch.Contracts;
using TStitch.Hosting.Errors;
using TStitch.Sampling;

namespace TStitch.Orchestration;

/// <summary>
/// One denoiser pool as the orchestrator calls it: its model (<see cref="Info"/>), a Denoise call per
/// step, or a stage run that resumes from its last checkpoint on another replica when a replica fails.
/// Both go through <see cref="PoolRetry"/>; failures that outlast it name the pool and its address.
/// </summary>
public sealed class PoolClient(string name, string address, Contracts.Denoiser.DenoiserClient client, ModelInfo model,
    OrchestratorOptions options, PoolRetry retry)
{
    public string Name { get; } = name;
    public string Address { get; } = address;
    public DenoiserInfo Info { get; } = model.ToInfo();
    /// <summary>What the model is conditioned on (manifest "conditioning"; older replicas report nothing: class labels).</summary>
    /// <summary>[3, H, W] of one decoded image when the pool's model has a decoder (it serves Decode), else null.</summary>
    public int[]? ImageShape { get; } = model.HasDecoder && model.ImageShape.Count == 3 ? [.. model.ImageShape] : null;

    /// <summary>Final latents [B, C, H, W] -> images [B, 3, H', W'] with the pool's decoder, retried like any pool call.</summary>
    public async Task<float[]> DecodeAsync(float[] latents, int batch, string jobId, CancellationToken cancellationToken)
    {
        var shape = ImageShape ?? throw new InvalidOperationException($"Pool '{Name}' has no decoder.");
        var request = new DecodeRequest { Latents = TensorMessages.WrapFloats(latents, batch, Info.Channels, Info.Height,
            Info.Width), JobId = jobId };
        return await retry.CallAsync(Name, Address, async () =>
        {
            var reply = await client.DecodeAsync(request, deadline: DateTime.UtcNow + options.StepTimeout,
                cancellationToken: cancellationToken);
            return Parsed(() => reply.Images.ToFloats("images", batch, shape[0], shape[1], shape[2]));
        }, cancellationToken);
    }

    public async Task<float[]> DenoiseAsync(DenoiseInput input, string jobId, CancellationToken cancellationToken)
    {
        var request = DenoiseMessages.ToRequest(input, Info, jobId);
        long started = System.Diagnostics.Stopwatch.GetTimestamp();
        return await retry.CallAsync(Name, Address, async () =>
        {
            var reply = await client.DenoiseAsync(request, deadline: DateTime.UtcNow + options.StepTimeout,
                cancellationToken: cancellationToken);
            OrchestratorMetrics.Denoised(Name, System.Diagnostics.Stopwatch.GetElapsedTime(started));
            return Parsed(() => reply.Output.ToFloats("output"));
        }, cancellationToken);
    }

    /// <summary>
    /// Reads the stream's end (its OK status) after the final state, then disposes the call: disposing it
    /// before would cancel it, and every successful stage would show as a cancelled (error) span in the
    /// job's trace. It runs behind the job (the final state is already in hand, so a failure here changes
    /// nothing), so the next stage's call does not wait for the replica's trailers.
    /// </summary>
    private async Task FinishAsync(AsyncServerStreamingCall<StageRunEvent> call)
    {
        using (call)
        using (var timeout = new CancellationTokenSource(options.StepTimeout))
        {
            try { while (await call.ResponseStream.MoveNext(timeout.Token)) { } }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException) { }
        }
    }

    /// <summary>
    /// Runs a stage on the pool and returns the state at its end. A call that breaks, or sends nothing
    /// for <see cref="OrchestratorOptions.StepTimeout"/>, is started again from the last checkpoint it sent
    /// (attempts count from the last checkpoint, so a long stage survives several replica failures).
    /// </summary>
    public async Task<SamplerState> RunStageAsync(StageRun run, CancellationToken cancellationToken)
    {
        var parameters = StageRunMessages.ToParameters(run.Trajectory, Info);
        int batch = run.Trajectory.Batch;
        var resumeFrom = run.Start;
        for (int attempt = 1; ; attempt++)
        {
            using var stall = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            stall.CancelAfter(options.StepTimeout);
            try
            {
                var request = new StageRunRequest
                {
                    Trajectory = parameters, State = StageRunMessages.ToStartCheckpoint(resumeFrom, Info),
                    ToStep = run.To, CheckpointEvery = run.CheckpointEvery, JobId = run.JobId,
                };
                var call = client.RunStage(request, cancellationToken: stall.Token);
                try
                {
                    while (await call.ResponseStream.MoveNext(stall.Token))
                    {
                        stall.CancelAfter(options.StepTimeout);
                        var e = call.ResponseStream.Current;
                        switch (e.EventCase)
                        {
                            case StageRunEvent.EventOneofCase.Step:
                                await run.OnStep(e.Step);
                                break;
                            case StageRunEvent.EventOneofCase.Checkpoint:
                                resumeFrom = Parsed(() => e.Checkpoint.ToState(batch, Info, "checkpoint"));
                                attempt = 0;
                                await run.OnCheckpoint(resumeFrom);
                                break;
                            case StageRunEvent.EventOneofCase.Final:
                                var final = Parsed(() => e.Final.ToState(batch, Info, "final"));
                                _ = FinishAsync(call); // disposes the call
                                return final;
                        }
                    }
                    throw new RpcException(new Status(StatusCode.Unavailable, "the stage run ended without its final state"));
                }
                catch
                {
                    call.Dispose();
                    throw;
                }
            }
            catch (RpcException) when (cancellationToken.IsCancellationRequested)
            {
                throw new OperationCanceledException(cancellationToken);
            }
            catch (Exception ex) when (ex is RpcException or OperationCanceledException && !cancellationToken.IsCancellationRequested)
            {
                // A stall is our own cancellation: the replica answered nothing for a whole step timeout.
                var (code, detail) = ex is RpcException rpc && !stall.IsCancellationRequested
                    ? (rpc.StatusCode, rpc.Status.Detail)
                    : (StatusCode.DeadlineExceeded, $"no progress for {options.StepTimeout.TotalSeconds:0.#} s");
                if (!PoolRetry.IsRetryable(code) || attempt >= retry.Attempts) throw PoolRetry.Failure(Name, Address, code, detail, ex);
                await Task.Delay(retry.Backoff(Math.Max(1, attempt)), cancellationToken);
            }
        }
    }

    /// <summary>
    /// A reply read as the wire rules say; one that breaks them is this pool's fault (a bug, or a version the
    /// orchestrator does not speak), never the caller's invalid argument.
    /// </summary>
    private T Parsed<T>(Func<T> read)
    {
        try { return read(); }
        catch (Exception ex) when (ex is InvalidRequestException or InvalidDataException)
        {
            throw new ServiceFailureException(FailureKind.Internal, $"Denoiser pool '{Name}' at {Address} answered a malformed reply: " +
                $"{ex.Message}", ex);
        }
    }
}
