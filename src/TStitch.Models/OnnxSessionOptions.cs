using Microsoft.ML.OnnxRuntime;

namespace TStitch.Models;

/// <summary>How this project's ONNX Runtime sessions (denoisers and decoders) are set up.</summary>
public sealed class OnnxSessionOptions
{
    /// <summary>ONNX Runtime intra-op threads; 0 lets ORT choose (all cores).</summary>
    public int IntraOpThreads { get; set; }
    /// <summary>
    /// Run on CUDA. Needs ONNX Runtime's GPU native package in place of the CPU one (same managed API;
    /// see the README's CUDA section for the build switch).
    /// </summary>
    public bool UseCuda { get; set; }
    public int CudaDeviceId { get; set; }
    /// <summary>
    /// Keep each session's intra-op threads on CPUs of their own, the calling thread included (see <see cref="CpuPinning"/>).
    /// For a process that owns its CPUs (a dedicated machine, a container with exclusive cores): where several processes
    /// share CPUs under a quota, they would all pin to the same first CPUs. Ignored on CUDA and off Linux.
    /// </summary>
    public bool PinThreads { get; set; }

    private CpuPinning? _pinning;
    private bool _pinningResolved;

    /// <summary>The pinning <see cref="PinThreads"/> asks for, or null (off, CUDA, not Linux, one thread).</summary>
    public CpuPinning? Pinning
    {
        get
        {
            if (!_pinningResolved)
            {
                _pinning = PinThreads && !UseCuda ? CpuPinning.For(IntraOpThreads) : null;
                _pinningResolved = true;
            }
            return _pinning;
        }
    }

    /// <summary>One session for the ONNX file a manifest names (relative to the manifest's folder).</summary>
    public InferenceSession CreateSession(string manifestPath, string onnxFile)
    {
        var onnxPath = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(manifestPath))!, onnxFile);
        if (!File.Exists(onnxPath))
            throw new FileNotFoundException($"Manifest '{manifestPath}' names ONNX file '{onnxPath}', which does not exist.", onnxPath);
        using var so = new SessionOptions
        {
            IntraOpNumThreads = IntraOpThreads, GraphOptimizationLevel = GraphOptimizationLevel.ORT_ENABLE_ALL,
        };
        // No spinning between runs: a server runs several sessions (and gRPC threads) on few cores, and
        // spinning intra-op threads steal the cores the next run needs (measured: docs/benchmarks.md).
        so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0");
        if (Pinning is { } pinning)
        {
            so.IntraOpNumThreads = pinning.Threads;
            so.AddSessionConfigEntry("session.intra_op_thread_affinities", pinning.WorkerAffinities);
        }
        if (UseCuda) so.AppendExecutionProvider_CUDA(CudaDeviceId);
        return new InferenceSession(onnxPath, so);
    }
}
