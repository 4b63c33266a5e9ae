namespace TStitch.Models;

/// <summary>How an <see cref="OnnxDenoiser"/> sets up its ONNX Runtime session.</summary>
public sealed class OnnxDenoiserOptions
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
    /// Let ORT's intra-op threads spin between runs. Off by default: a server runs several sessions
    /// (and gRPC threads) on few cores, and spinning threads steal the cores the next run needs.
    /// </summary>
    public bool AllowSpinning { get; set; }
}
