using System.ComponentModel.DataAnnotations;
using TStitch.Models;

namespace TStitch.Denoising;

/// <summary>Configuration section "Denoiser": which model this pool serves and how.</summary>
public sealed class DenoiserOptions : IValidatableObject
{
    public const string Section = "Denoiser";

    /// <summary>Path of the model manifest (model.json next to model.onnx).</summary>
    [Required(ErrorMessage = "Denoiser:Model must name a model manifest, e.g. models/large.json.")]
    public string Model { get; set; } = "";

    /// <summary>Build the built-in zoo into the manifest's folder if the manifest is missing (quick start).</summary>
    public bool BuildZooIfMissing { get; set; }

    /// <summary>Most samples (before guidance doubling) one Denoise call or stage run may carry.</summary>
    [Range(1, 65536)]
    public int MaxSamplesPerCall { get; set; } = 256;

    /// <summary>Most rows (samples, guided ones counted twice) the dynamic batcher puts into one model run.</summary>
    [Range(1, 65536)]
    public int MaxBatchRows { get; set; } = 256;

    /// <summary>
    /// How long the batcher waits for more calls after the first. 0 (default) batches greedily: a run
    /// takes every call that queued up while the previous run was busy, so a lone job never waits and
    /// a loaded pool still forms large batches.
    /// </summary>
    public TimeSpan MaxBatchDelay { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// With several stage runs active, how long a model run may wait for the ones whose next step has not
    /// arrived yet (they are between steps: sampler update, progress event), so concurrent jobs stay in one
    /// batch instead of splitting into small runs. 0 turns it off. A few milliseconds: long next to the
    /// time between a run's steps, short next to a real model's step.
    /// </summary>
    [Range(typeof(TimeSpan), "00:00:00", "00:00:10")]
    public TimeSpan StageCohortWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>
    /// Denoise calls allowed to wait for a run, and stage runs allowed at once; beyond either, the call or the new stage
    /// run answers ResourceExhausted (a running stage run's steps are never refused).
    /// </summary>
    [Range(1, 1_000_000)]
    public int QueueCapacity { get; set; } = 256;

    /// <summary>ONNX Runtime intra-op threads (0 = ORT's default, all cores).</summary>
    [Range(0, 1024)]
    public int IntraOpThreads { get; set; }

    /// <summary>
    /// Keep ONNX Runtime's intra-op threads, and the thread calling each run, on CPUs of their own (<see cref="CpuPinning"/>).
    /// Off by default: it is for a replica that owns its CPUs (a dedicated machine, or a pod with exclusive cores under
    /// the kubelet's static CPU manager); replicas sharing a node's CPUs under a quota would all pin to the same first ones.
    /// </summary>
    public bool PinThreads { get; set; }

    /// <summary>Use the CUDA execution provider (needs the ORT GPU native package; see README).</summary>
    public bool UseCuda { get; set; }

    /// <summary>Which GPU the CUDA execution provider uses.</summary>
    [Range(0, 64)]
    public int CudaDeviceId { get; set; }

    /// <summary>How the replica's ONNX Runtime sessions (the model and its decoder) are set up.</summary>
    public OnnxSessionOptions Session => new()
    {
        IntraOpThreads = IntraOpThreads, UseCuda = UseCuda, CudaDeviceId = CudaDeviceId, PinThreads = PinThreads,
    };

    public IEnumerable<ValidationResult> Validate(ValidationContext validationContext)
    {
        if (PinThreads && !UseCuda && CpuPinning.Problem(IntraOpThreads) is { } problem)
            yield return new ValidationResult($"Denoiser:PinThreads with Denoiser:IntraOpThreads={IntraOpThreads}: {problem}");
    }

    /// <summary>What the replica's <see cref="DynamicBatcher"/> is configured with.</summary>
    public BatchingOptions Batching => new(MaxBatchRows, MaxBatchDelay, QueueCapacity, StageCohortWait);
}
