using System.Collections.Concurrent;

namespace TStitch.Models;

/// <summary>
/// Float arrays of exact lengths, handed back for reuse: a model's outputs (<see cref="Sampling.IDenoiser.Recycle"/>)
/// and a batcher's merged inputs, so stepping trajectories allocates no tensor-sized array per step (each
/// is a large-object-heap array: 196 KB at batch 16 of the zoo, 786 KB at 64, and their churn costs full
/// collections). A few arrays per length, for a bounded number of lengths: batch shapes change with load,
/// and arrays beyond the bounds are left to the collector. Lock-free: every stage run on a replica hands
/// its outputs back after each step. Hand-written: ArrayPool rents power-of-two lengths, and an ORT
/// tensor over a managed array must be exactly its size.
/// </summary>
public sealed class FloatBuffers
{
    private const int PerLength = 4, Lengths = 16;
    private readonly ConcurrentDictionary<int, ConcurrentBag<float[]>> _free = new();

    /// <summary>
    /// A free array of exactly <paramref name="length"/> values, or a new one. Its contents are undefined:
    /// the taker writes all of it.
    /// </summary>
    public float[] Take(int length) =>
        _free.TryGetValue(length, out var bag) && bag.TryTake(out var array) ? array : new float[length];

    /// <summary>Hands <paramref name="array"/> back; the caller must not touch it afterwards.</summary>
    public void Return(float[] array)
    {
        if (!_free.TryGetValue(array.Length, out var bag))
        {
            if (_free.Count >= Lengths) return;
            bag = _free.GetOrAdd(array.Length, _ => []);
        }
        // A racing Return may overshoot PerLength by a few arrays; the bound is about memory, not exactness.
        if (bag.Count < PerLength) bag.Add(array);
    }
}
