using System.Collections.Concurrent;

namespace TStitch.Models;

/// <summary>
/// Float arrays of exact lengths, handed back for reuse: a model's outputs (<see cref="Sampling.IDenoiser.Recycle"/>)
/// and a batcher's merged inputs, so stepping trajectories allocates no tensor-sized array per step (each
/// is a large-object-heap array: 196 KB at batch 16 of the zoo, 786 KB at 64, and their churn costs full
/// collections; the smaller ones of small jobs still cost gen0 collections). A few per length, within a byte
/// budget rather than a count of lengths, because cohort batching varies the merged batch's size from run
/// to run. Lock-free: every stage run on a replica hands its outputs back after
/// each step. Hand-written: ArrayPool rents power-of-two lengths, and an ORT tensor over a managed array must
/// be exactly its size.
/// </summary>
public sealed class FloatBuffers(long maxBytes = FloatBuffers.DefaultMaxBytes)
{
    public const long DefaultMaxBytes = 32L * 1024 * 1024;
    private const int PerLength = 4;
    private readonly ConcurrentDictionary<int, ConcurrentQueue<float[]>> _free = new();
    private long _bytes;

    /// <summary>Bytes held for reuse now.</summary>
    public long HeldBytes => Interlocked.Read(ref _bytes);

    /// <summary>
    /// A free array of exactly <paramref name="length"/> values, or a new one. Its contents are undefined:
    /// the taker writes all of it.
    /// </summary>
    public float[] Take(int length)
    {
        if (!_free.TryGetValue(length, out var queue) || !queue.TryDequeue(out var array)) return new float[length];
        Interlocked.Add(ref _bytes, -Bytes(array));
        return array;
    }

    /// <summary>Hands <paramref name="array"/> back; the caller must not touch it afterwards.</summary>
    public void Return(float[] array)
    {
        long size = Bytes(array);
        if (Interlocked.Add(ref _bytes, size) > maxBytes)
        {
            Interlocked.Add(ref _bytes, -size);
            return;
        }
        var queue = _free.GetOrAdd(array.Length, _ => new ConcurrentQueue<float[]>());
        // A racing Return may overshoot PerLength by a few arrays; the bound that matters is the byte budget.
        if (queue.Count < PerLength) queue.Enqueue(array);
        else Interlocked.Add(ref _bytes, -size);
    }

    private static long Bytes(float[] array) => (long)array.Length * sizeof(float);
}
