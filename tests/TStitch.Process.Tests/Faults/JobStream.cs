using Grpc.Core;
using TStitch.Contracts;

namespace TStitch.Process.Tests;

/// <summary>A GenerateStream read in the background: the steps seen so far, then its result or its failure.</summary>
public sealed class JobStream : IDisposable
{
    private readonly AsyncServerStreamingCall<GenerateEvent> _call;
    private readonly CancellationTokenSource _cancel = new();
    private readonly List<int> _steps = [];
    private int _last;

    public JobStream(Contracts.Orchestrator.OrchestratorClient client, GenerateRequest request)
    {
        _call = client.GenerateStream(request, deadline: DateTime.UtcNow + FaultRequests.JobDeadline, cancellationToken: _cancel.Token);
        Completion = ReadAsync();
    }

    /// <summary>The result, or the RpcException the stream ended with.</summary>
    public Task<GenerateResult> Completion { get; }
    public int LastStep => Volatile.Read(ref _last);
    public IReadOnlyList<int> Steps { get { lock (_steps) return [.. _steps]; } }

    private async Task<GenerateResult> ReadAsync()
    {
        while (await _call.ResponseStream.MoveNext(CancellationToken.None))
        {
            var e = _call.ResponseStream.Current;
            if (e.Result is not null) return e.Result;
            if (e.Progress is { } p)
            {
                lock (_steps) _steps.Add(p.Step);
                Volatile.Write(ref _last, p.Step);
            }
        }
        throw new InvalidOperationException("The stream ended without a result.");
    }

    /// <summary>Waits (bounded) until the stream has reported <paramref name="step"/>;
    /// false if it ended or the time ran out first.</summary>
    public async Task<bool> WaitForStepAsync(int step, TimeSpan timeout)
    {
        var clock = System.Diagnostics.Stopwatch.StartNew();
        while (LastStep < step)
        {
            if (Completion.IsCompleted || clock.Elapsed > timeout) return false;
            await Task.Delay(5);
        }
        return true;
    }

    /// <summary>The client goes away (as a killed client would): the call is cancelled.</summary>
    public void Abandon() => _cancel.Cancel();

    public void Dispose()
    {
        _cancel.Cancel();
        _call.Dispose();
        _cancel.Dispose();
    }
}
