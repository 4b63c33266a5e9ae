using System.ComponentModel.DataAnnotations;

namespace TStitch.Denoising;

/// <summary>Configuration section "Denoiser": which model this pool serves and how.</summary>
public sealed class DenoiserOptions
{
    public const string Section = "Denoiser";

    /// <summary>Path of the model manifest (model.json next to model.onnx).</summary>
    [Required(ErrorMessage = "Denoiser:Model must name a model manifest, e.g. models/large.json.")]
    public string Model { get; set; } = "";

    /// <summary>Build the built-in zoo into the manifest's folder if the manifest is missing (quick start).</summary>
    public bool BuildZooIfMissing { get; set; }

    /// <summary>Largest batch (samples, before guidance doubling) one Denoise call may carry.</summary>
    [Range(1, 65536)]
    public int MaxBatch { get; set; } = 256;

    /// <summary>ONNX Runtime intra-op threads (0 = ORT's default, all cores).</summary>
    [Range(0, 1024)]
    public int IntraOpThreads { get; set; }

    /// <summary>Use the CUDA execution provider (needs the ORT GPU native package; see README).</summary>
    public bool UseCuda { get; set; }
}
